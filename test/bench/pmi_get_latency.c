/* pmi_get_latency: how long a PMI-1 `get` takes once the fence is done.
 *
 * A raw PMI-1 wire client (no libpmi, so that nothing caches or batches
 * behind our back): it connects the way a real rank does (the inherited
 * socket in PMI_FD, else TCP to PMI_PORT with the initack handshake), then
 *
 *   init, get_maxes, get_my_kvsname
 *   put   bench-<rank>-<j> = <rank>.<j>-xxxx...  for j < ceil(K/(N-1)) keys
 *         (VALUE_BYTES characters each), and warm-<rank>
 *   barrier_in / barrier_out                 (the fence)
 *   WARMUP gets of the peers' warm-* keys and of PMI_process_mapping, untimed
 *   "first": K gets, each of a different key of another rank (round robin
 *            over the peers), so every key is read for the first time since
 *            the fence, as an MPI library reads business cards
 *   "again": the same K gets once more (no barrier in between: a barrier
 *            starts a new epoch), so a server that remembers what it read
 *            this epoch answers them from memory
 *   barrier, "mapping": K gets of PMI_process_mapping, which a server may
 *            answer from memory without asking anyone (pmi-bridge exec
 *            does: it re-encodes it at connect): what a local get costs
 *   barrier, finalize
 *
 * Each get round trip is timed with clock_gettime(CLOCK_MONOTONIC). One line
 * per rank and phase (one write() each, so lines of concurrent ranks do not
 * interleave):
 *
 *   pmi_get_latency rank=R size=N key=first gets=K value_bytes=V mean_us=M median_us=D p90_us=P
 * min_us=L max_us=X
 *
 * Every value read back is checked, so a wrong answer fails the run (exit 1)
 * instead of being timed.
 *
 *   mpiexec.hydra -n 4 pmi_get_latency [K [VALUE_BYTES [WARMUP]]]
 *   mpiexec.hydra -n 4 pmi-bridge exec -- pmi_get_latency
 *
 * Defaults: K=1000, VALUE_BYTES=64, WARMUP=50. Built with plain gcc -O2 by
 * //test/bench:pmi_get_latency. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kLineMax = 4096 };

static int pmi_fd = -1;
static char inbuf[kLineMax * 2];
static size_t inlen = 0;
static int my_rank = -1;

static void die(const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(msg, sizeof msg, "pmi_get_latency[%d]: ", my_rank);
  vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  size_t len = strlen(msg);
  if (len + 1 < sizeof msg) msg[len++] = '\n';
  (void)!write(STDERR_FILENO, msg, len);
  exit(1);
}

static void send_line(const char* line) {
  size_t len = strlen(line), off = 0;
  while (off < len) {
    ssize_t n = write(pmi_fd, line + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("write to the PMI server: %s", strerror(errno));
    off += (size_t)n;
  }
}

/* Reads one '\n'-terminated line (without the '\n') into out. */
static void recv_line(char* out, size_t cap) {
  for (;;) {
    char* nl = memchr(inbuf, '\n', inlen);
    if (nl) {
      size_t len = (size_t)(nl - inbuf);
      if (len >= cap) die("reply line too long (%zu bytes)", len);
      memcpy(out, inbuf, len);
      out[len] = '\0';
      inlen -= len + 1;
      memmove(inbuf, nl + 1, inlen);
      return;
    }
    if (inlen == sizeof inbuf) die("reply line longer than %zu bytes", sizeof inbuf);
    ssize_t n = read(pmi_fd, inbuf + inlen, sizeof inbuf - inlen);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read from the PMI server: %s", strerror(errno));
    if (n == 0) die("the PMI server closed the connection");
    inlen += (size_t)n;
  }
}

/* The value of token `key=` in a reply line, copied into out; 0 if absent.
 * PMI-1 values carry no spaces, so a token ends at the next space. */
static int token(const char* line, const char* key, char* out, size_t cap) {
  size_t klen = strlen(key);
  for (const char* p = line; *p;) {
    while (*p == ' ') p++;
    const char* end = strchr(p, ' ');
    if (!end) end = p + strlen(p);
    if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      size_t vlen = (size_t)(end - p) - klen - 1;
      if (vlen >= cap) die("value of %s too long in: %s", key, line);
      memcpy(out, p + klen + 1, vlen);
      out[vlen] = '\0';
      return 1;
    }
    p = end;
  }
  return 0;
}

/* Sends `request` and reads the reply, which must be cmd=<expect> (and rc=0
 * when it carries an rc). */
static void call(const char* request, const char* expect, char* reply, size_t cap) {
  send_line(request);
  recv_line(reply, cap);
  char cmd[64], rc[16];
  if (!token(reply, "cmd", cmd, sizeof cmd) || strcmp(cmd, expect) != 0) {
    die("sent %.*s, expected cmd=%s, got: %s", (int)strcspn(request, "\n"), request, expect, reply);
  }
  if (token(reply, "rc", rc, sizeof rc) && strcmp(rc, "0") != 0) {
    die("sent %.*s, got rc=%s: %s", (int)strcspn(request, "\n"), request, rc, reply);
  }
}

static int env_int(const char* name, int fallback) {
  const char* v = getenv(name);
  return v && *v ? atoi(v) : fallback;
}

/* Connects to PMI_FD or PMI_PORT; returns the size and sets my_rank. */
static int connect_pmi(void) {
  const char* fd = getenv("PMI_FD");
  if (fd && *fd) {
    pmi_fd = atoi(fd);
    my_rank = env_int("PMI_RANK", -1);
    int size = env_int("PMI_SIZE", -1);
    if (my_rank < 0 || size <= 0) die("PMI_FD set but PMI_RANK/PMI_SIZE missing");
    return size;
  }
  const char* port = getenv("PMI_PORT");
  if (!port || !*port) die("neither PMI_FD nor PMI_PORT is set: run me under a PMI-1 launcher");
  char host[256];
  const char* colon = strrchr(port, ':');
  if (!colon || (size_t)(colon - port) >= sizeof host) die("bad PMI_PORT %s", port);
  memcpy(host, port, (size_t)(colon - port));
  host[colon - port] = '\0';
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
    die("cannot resolve PMI_PORT %s", port);
  pmi_fd = socket(res->ai_family, SOCK_STREAM, 0);
  if (pmi_fd < 0 || connect(pmi_fd, res->ai_addr, res->ai_addrlen) != 0) {
    die("connect to PMI_PORT %s: %s", port, strerror(errno));
  }
  freeaddrinfo(res);
  int one = 1;
  setsockopt(pmi_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char line[kLineMax], v[64];
  snprintf(line, sizeof line, "cmd=initack pmiid=%d\n", env_int("PMI_ID", 0));
  call(line, "initack", line, sizeof line);
  int size = -1;
  for (int i = 0; i < 3; i++) { /* set size=, set rank=, set debug= */
    recv_line(line, sizeof line);
    if (token(line, "size", v, sizeof v)) size = atoi(v);
    if (token(line, "rank", v, sizeof v)) my_rank = atoi(v);
  }
  if (my_rank < 0 || size <= 0) die("initack gave no rank/size");
  return size;
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static void fill_value(char* out, int rank, int j, int bytes) {
  int n = snprintf(out, (size_t)bytes + 1, "%d.%d-", rank, j);
  for (int i = n; i < bytes; i++) out[i] = (char)('a' + (rank + j + i) % 26);
  out[bytes > n ? bytes : n] = '\0';
}

/* One timed get; checks the answer against `want` (NULL: any rc=0 value). */
static double timed_get(const char* kvsname, const char* key, const char* want) {
  char request[512], reply[kLineMax], value[kLineMax];
  snprintf(request, sizeof request, "cmd=get kvsname=%s key=%s\n", kvsname, key);
  double t0 = now_us();
  call(request, "get_result", reply, sizeof reply);
  double t1 = now_us();
  if (!token(reply, "value", value, sizeof value)) die("get %s: no value in: %s", key, reply);
  if (want && strcmp(value, want) != 0) die("get %s: wrong value %s (want %s)", key, value, want);
  return t1 - t0;
}

static void report(int size, const char* name, double* us, int k, int value_bytes) {
  double sum = 0;
  for (int i = 0; i < k; i++) sum += us[i];
  qsort(us, (size_t)k, sizeof *us, cmp_double);
  double median = k % 2 ? us[k / 2] : (us[k / 2 - 1] + us[k / 2]) / 2;
  char line[512];
  int n = snprintf(line, sizeof line,
                   "pmi_get_latency rank=%d size=%d key=%s gets=%d value_bytes=%d mean_us=%.2f "
                   "median_us=%.2f p90_us=%.2f min_us=%.2f max_us=%.2f\n",
                   my_rank, size, name, k, value_bytes, sum / k, median, us[(k * 9) / 10], us[0],
                   us[k - 1]);
  (void)!write(STDOUT_FILENO, line, (size_t)n);
}

int main(int argc, char** argv) {
  int k = argc > 1 ? atoi(argv[1]) : 1000;
  int value_bytes = argc > 2 ? atoi(argv[2]) : 64;
  int warmup = argc > 3 ? atoi(argv[3]) : 50;
  if (k < 1 || k > 100000 || value_bytes < 16 || value_bytes > 512 || warmup < 0) {
    fprintf(stderr, "usage: pmi_get_latency [K 1..100000 [VALUE_BYTES 16..512 [WARMUP]]]\n");
    return 2;
  }
  int size = connect_pmi();

  char line[kLineMax], kvsname[256], v[64];
  call("cmd=init pmi_version=1 pmi_subversion=1\n", "response_to_init", line, sizeof line);
  call("cmd=get_maxes\n", "maxes", line, sizeof line);
  if (token(line, "vallen_max", v, sizeof v) && atoi(v) <= value_bytes) {
    die("VALUE_BYTES %d does not fit the server's vallen_max %s", value_bytes, v);
  }
  call("cmd=get_my_kvsname\n", "my_kvsname", line, sizeof line);
  if (!token(line, "kvsname", kvsname, sizeof kvsname)) die("no kvsname in: %s", line);

  /* Keys per rank: enough that the K "first" gets never repeat a key. */
  const int peers = size > 1 ? size - 1 : 1;
  const int keys = (k + peers - 1) / peers;
  char value[600], request[kLineMax], key[64];
  for (int j = 0; j <= keys; j++) { /* j == keys: the warm-up key */
    fill_value(value, my_rank, j, value_bytes);
    if (j < keys) {
      snprintf(key, sizeof key, "bench-%d-%d", my_rank, j);
    } else {
      snprintf(key, sizeof key, "warm-%d", my_rank);
    }
    snprintf(request, sizeof request, "cmd=put kvsname=%s key=%s value=%s\n", kvsname, key, value);
    call(request, "put_result", line, sizeof line);
  }
  call("cmd=barrier_in\n", "barrier_out", line, sizeof line);

  double* us = calloc((size_t)k, sizeof *us);
  if (!us) die("out of memory");
  char want[600];
  /* Get i: peer i % (N-1) after me (myself when alone), its key i / (N-1). */
#define PEER(i) (size > 1 ? (my_rank + 1 + (i) % peers) % size : my_rank)
  for (int i = 0; i < warmup; i++) {
    snprintf(key, sizeof key, "warm-%d", PEER(i));
    fill_value(want, PEER(i), keys, value_bytes);
    (void)timed_get(kvsname, key, want);
    (void)timed_get(kvsname, "PMI_process_mapping", NULL);
  }
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < k; i++) {
      snprintf(key, sizeof key, "bench-%d-%d", PEER(i), i / peers);
      fill_value(want, PEER(i), i / peers, value_bytes);
      us[i] = timed_get(kvsname, key, want);
    }
    report(size, pass == 0 ? "first" : "again", us, k, value_bytes);
  }
  /* Everyone starts the mapping phase together, so it is not timed while
   * other ranks are still reading keys. */
  call("cmd=barrier_in\n", "barrier_out", line, sizeof line);
  for (int i = 0; i < k; i++) us[i] = timed_get(kvsname, "PMI_process_mapping", NULL);
  report(size, "mapping", us, k, value_bytes);

  call("cmd=barrier_in\n", "barrier_out", line, sizeof line);
  call("cmd=finalize\n", "finalize_ack", line, sizeof line);
  free(us);
  return 0;
}
