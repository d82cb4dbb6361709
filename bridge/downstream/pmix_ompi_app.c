/* pmix_ompi_app: an unmodified Open MPI 4.1 program for PmixServer tests.
 *
 * Built with Debian's mpicc.openmpi by //bridge/downstream:pmix_ompi_app, so
 * its PMIx client is Open MPI's own (the ext3x component over libpmix).
 * Allreduce and Allgather only give the right numbers when all N ranks found
 * each other: N singletons would each report size 1.
 *
 * Optional argument: the expected size; a mismatch fails with "singleton?".
 * Output, one line per rank on success:
 *   rank R of N: allreduce=S allgather=ok
 * On any mismatch one line "rank R of N: FAIL ..." and exit 1. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static long Contribution(int rank) { return (long)rank * rank + 7; }

static void Fail(int rank, int size, const char* what) {
  printf("rank %d of %d: FAIL %s\n", rank, size, what);
  fflush(stdout);
  if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
  exit(1);
}

int main(int argc, char** argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    printf("rank ? of ?: FAIL MPI_Init\n");
    return 1;
  }
  int rank = -1;
  int size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc > 1 && atoi(argv[1]) != size) {
    char msg[128];
    snprintf(msg, sizeof(msg), "MPI size %d, expected %s (singleton?)", size, argv[1]);
    Fail(rank, size, msg);
  }

  long mine = rank + 1;
  long sum = 0;
  if (MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
    Fail(rank, size, "MPI_Allreduce returned an error");
  }
  if (sum != (long)size * (size + 1) / 2) Fail(rank, size, "wrong allreduce sum");

  long* all = malloc(sizeof(long) * size);
  long contribution = Contribution(rank);
  if (all == NULL ||
      MPI_Allgather(&contribution, 1, MPI_LONG, all, 1, MPI_LONG, MPI_COMM_WORLD) != MPI_SUCCESS) {
    Fail(rank, size, "MPI_Allgather failed");
  }
  for (int r = 0; r < size; ++r) {
    if (all[r] != Contribution(r)) Fail(rank, size, "wrong allgather slot");
  }
  free(all);
  printf("rank %d of %d: allreduce=%ld allgather=ok\n", rank, size, sum);
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
