/* mpi_hello: the smallest real MPICH job, for start-up benchmarks.
 *
 * MPI_Init + MPI_Finalize are where a launcher's PMI service is exercised
 * (init, maxes, kvs put/barrier/get for the business cards, finalize), so the
 * wall time of N of these is the launcher's start-up cost.
 * Built with mpicc.mpich by //test/programs:mpi_hello. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "mpi_hello: MPI_Init failed\n");
    return 1;
  }
  int rank = -1;
  int size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  printf("hello from rank %d of %d\n", rank, size);
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
