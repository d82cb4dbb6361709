/* mpi_collectives: a real MPICH program for the end-to-end tests.
 *
 * It proves that a launcher's PMI service carried enough for MPI_Init to wire
 * up every rank: Allreduce and Allgather only give the right numbers when all
 * N ranks found each other (N singletons would each report size 1).
 *
 * Output, exactly one line per rank on success:
 *   rank R of N: allreduce=S allgather=ok
 * On any mismatch one line "rank R of N: FAIL ..." on stderr and exit 1.
 * Built with mpicc.mpich by //test/programs:mpi_collectives. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

/* Each rank's Allgather contribution; quadratic so that a permuted or
 * duplicated slot cannot pass by accident. */
static long Contribution(int rank) { return (long)rank * rank + 7; }

static void Fail(int rank, int size, const char* what) {
  fprintf(stderr, "rank %d of %d: FAIL %s\n", rank, size, what);
  fflush(stderr);
  /* MPI_Abort so that the other ranks do not wait in a collective forever. */
  MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}

int main(int argc, char** argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "rank ? of ?: FAIL MPI_Init\n");
    return 1;
  }
  int rank = -1;
  int size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  /* A launcher that sets PMI_SIZE but hands over no rendezvous makes MPICH
   * run as a singleton, which for N=1 would otherwise look like success. */
  const char* env_size = getenv("PMI_SIZE");
  if (env_size != NULL && getenv("PMI_FD") == NULL && getenv("PMI_PORT") == NULL) {
    Fail(rank, size, "PMI_SIZE is set but neither PMI_FD nor PMI_PORT");
  }
  /* A launcher whose PMI service is not used would give N singletons; catch
   * that explicitly with a clear message. */
  if (env_size != NULL && atoi(env_size) != size) {
    char msg[128];
    snprintf(msg, sizeof(msg), "MPI size %d != PMI_SIZE %s (singleton?)", size, env_size);
    Fail(rank, size, msg);
  }

  long mine = rank + 1;
  long sum = 0;
  if (MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
    Fail(rank, size, "MPI_Allreduce returned an error");
  }
  long expected = (long)size * (size + 1) / 2;
  if (sum != expected) {
    char msg[128];
    snprintf(msg, sizeof(msg), "allreduce=%ld expected %ld", sum, expected);
    Fail(rank, size, msg);
  }

  long* all = calloc((size_t)size, sizeof(long));
  if (all == NULL) Fail(rank, size, "out of memory");
  long contribution = Contribution(rank);
  if (MPI_Allgather(&contribution, 1, MPI_LONG, all, 1, MPI_LONG, MPI_COMM_WORLD) != MPI_SUCCESS) {
    Fail(rank, size, "MPI_Allgather returned an error");
  }
  for (int i = 0; i < size; ++i) {
    if (all[i] != Contribution(i)) {
      char msg[128];
      snprintf(msg, sizeof(msg), "allgather[%d]=%ld expected %ld", i, all[i], Contribution(i));
      Fail(rank, size, msg);
    }
  }
  free(all);

  if (MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS) {
    Fail(rank, size, "MPI_Barrier returned an error");
  }
  printf("rank %d of %d: allreduce=%ld allgather=ok\n", rank, size, sum);
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
