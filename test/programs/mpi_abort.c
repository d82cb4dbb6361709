/* mpi_abort: a real MPICH program whose rank 1 calls MPI_Abort, for the
 * end-to-end tests of abort handling under a launcher (directly or through
 * pmi-bridge exec).
 *
 * Every rank initialises MPI. Rank 1 (rank 0 when there is only one) prints
 *   rank R of N: calling MPI_Abort(7)
 * on stderr and calls MPI_Abort(MPI_COMM_WORLD, 7); MPICH itself then prints
 * "application called MPI_Abort(MPI_COMM_WORLD, 7)". The other ranks wait in
 * MPI_Barrier and then sleep for 30 s, so only the launcher ending the job
 * can make a run short. Exit status 0 from any rank means the abort was lost.
 * Built with mpicc.mpich by //test/programs:mpi_abort. */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "rank ? of ?: FAIL MPI_Init\n");
    return 1;
  }
  int rank = -1;
  int size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank == (size > 1 ? 1 : 0)) {
    fprintf(stderr, "rank %d of %d: calling MPI_Abort(7)\n", rank, size);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 7);
    return 2; /* not reached */
  }
  MPI_Barrier(MPI_COMM_WORLD);
  sleep(30);
  MPI_Finalize();
  return 0;
}
