/* Runs inside test containers (linked statically: the rootfs has only
 * busybox). Connects to the Unix socket argv[1], sends argv[2], prints what
 * comes back until EOF. Exit 0 on success, 1 with a message otherwise. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: unix_probe SOCKET TOKEN\n");
    return 1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
  if (fd < 0 || connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
    perror("unix_probe: connect");
    return 1;
  }
  if (write(fd, argv[2], strlen(argv[2])) < 0) {
    perror("unix_probe: write");
    return 1;
  }
  shutdown(fd, SHUT_WR);
  char buffer[256];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) fwrite(buffer, 1, (size_t)n, stdout);
  return 0;
}
