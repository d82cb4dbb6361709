/* Prints what a rank sees of the job and of its node, for multi-node tests:
 *   rank R of N on HOST: node_size=K sum=S
 * node_size is the size of MPI_COMM_TYPE_SHARED (the ranks the MPI library
 * believes share this node's memory); sum is an allreduce of the ranks, so
 * a line is printed only when the whole job communicated. */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int rank = -1, size = 0, node_size = 0, sum = 0;
  char host[256] = {0};
  MPI_Comm node;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &node_size);
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  gethostname(host, sizeof(host) - 1);
  printf("rank %d of %d on %s: node_size=%d sum=%d\n", rank, size, host, node_size, sum);
  fflush(stdout);
  MPI_Comm_free(&node);
  MPI_Finalize();
  return 0;
}
