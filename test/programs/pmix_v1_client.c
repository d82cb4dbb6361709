/* A PMIx v1.2 client for end-to-end tests and the benchmark, built against
 * the lab's OpenPMIx 1.2.5 (v1 API: PMIx_Init(proc)). Built against a
 * current libpmix (PMIX_VERSION_MAJOR >= 2) it is the same program on the
 * v2+ API: the benchmark's reference (pmix_current_client).
 *
 *   pmix_v1_client [--keys N] [--no-collect] [--abort CODE] [--exit-before-fence R]
 *                  [--time]
 *
 * Init, read job size, universe, local peers and own hostname, put N keys
 * (GLOBAL) and one LOCAL key, commit, fence (with data collection unless
 * --no-collect, then gets use direct modex), get every key of every rank
 * and check each value, finalize. One line per rank on success:
 *   OK rank R size N peers P host H keys K
 * Failures print "FAIL rank R: what" and exit 1. --abort CODE: rank 1 (or
 * 0 in a job of one) calls PMIx_Abort(CODE, "pmix v1 abort test") after
 * init; the others wait in the fence. --exit-before-fence R: rank R exits
 * with status 3 without finalizing, the others wait in the fence. --time
 * first lines the ranks up with a fence that collects nothing, then adds
 * "fence_us F fence_get_us T": microseconds from before the collecting
 * fence to after it, and to after the last get (the benchmark's figure). */
#include <pmix.h>
#include <pmix_version.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static pmix_proc_t me;

#if PMIX_VERSION_MAJOR >= 2
#define CLIENT_INIT(proc) PMIx_Init(proc, NULL, 0)
#define CLIENT_FINALIZE() PMIx_Finalize(NULL, 0)
#else
#define CLIENT_INIT(proc) PMIx_Init(proc)
#define CLIENT_FINALIZE() PMIx_Finalize()
#endif

static void fail(const char* what, int rc) {
  printf("FAIL rank %d: %s rc=%d\n", me.rank, what, rc);
  fflush(stdout);
  exit(1);
}

static pmix_value_t* get_or_fail(int rank, const char* key) {
  pmix_proc_t proc;
  pmix_value_t* val = NULL;
  memset(&proc, 0, sizeof(proc));
  memcpy(proc.nspace, me.nspace, sizeof(proc.nspace));
  proc.rank = rank;
  int rc = PMIx_Get(&proc, key, NULL, 0, &val);
  if (rc != PMIX_SUCCESS || val == NULL) {
    char what[640];
    snprintf(what, sizeof(what), "PMIx_Get(rank %d, %s)", rank, key);
    fail(what, rc);
  }
  return val;
}

static double now_us(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return tv.tv_sec * 1e6 + tv.tv_usec;
}

int main(int argc, char** argv) {
  int keys = 1, collect = 1, abort_code = -1, exit_rank = -1, timing = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--keys") && i + 1 < argc)
      keys = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-collect"))
      collect = 0;
    else if (!strcmp(argv[i], "--abort") && i + 1 < argc)
      abort_code = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--exit-before-fence") && i + 1 < argc)
      exit_rank = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--time"))
      timing = 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = CLIENT_INIT(&me);
  if (rc != PMIX_SUCCESS) {
    printf("FAIL PMIx_Init rc=%d (%s)\n", rc, PMIx_Error_string(rc));
    return 1;
  }
  pmix_value_t* val = get_or_fail(PMIX_RANK_WILDCARD, PMIX_JOB_SIZE);
  const uint32_t size = val->data.uint32;
  PMIX_VALUE_RELEASE(val);
  val = get_or_fail(PMIX_RANK_WILDCARD, PMIX_UNIV_SIZE);
  if (val->data.uint32 < size) fail("universe smaller than the job", (int)val->data.uint32);
  PMIX_VALUE_RELEASE(val);
  val = get_or_fail(PMIX_RANK_WILDCARD, PMIX_LOCAL_PEERS);
  char peers[256];
  snprintf(peers, sizeof(peers), "%s", val->data.string);
  PMIX_VALUE_RELEASE(val);
  val = get_or_fail(me.rank, PMIX_HOSTNAME);
  char host[256];
  snprintf(host, sizeof(host), "%s", val->data.string);
  PMIX_VALUE_RELEASE(val);

  const int aborter = size > 1 ? 1 : 0;
  if (abort_code >= 0 && (int)me.rank == aborter) {
    PMIx_Abort(abort_code, "pmix v1 abort test", NULL, 0);
    sleep(30); /* the launcher ends us */
    return 0;
  }
  if (timing) {
    /* Line the ranks up first, so the timed fence measures the exchange,
     * not how far apart the ranks started. */
    if ((rc = PMIx_Fence(NULL, 0, NULL, 0)) != PMIX_SUCCESS) fail("PMIx_Fence (sync)", rc);
  }
  for (int k = 0; k < keys; ++k) {
    char key[64], text[128];
    snprintf(key, sizeof(key), "v1-key-%d", k);
    snprintf(text, sizeof(text), "value-%d-of-rank-%d", k, me.rank);
    pmix_value_t value;
    value.type = PMIX_STRING;
    value.data.string = text;
    if ((rc = PMIx_Put(PMIX_GLOBAL, key, &value)) != PMIX_SUCCESS) fail("PMIx_Put", rc);
  }
  pmix_value_t local;
  local.type = PMIX_UINT32;
  local.data.uint32 = 1000 + me.rank;
  if ((rc = PMIx_Put(PMIX_LOCAL, "v1-local", &local)) != PMIX_SUCCESS) fail("PMIx_Put local", rc);
  if ((rc = PMIx_Commit()) != PMIX_SUCCESS) fail("PMIx_Commit", rc);
  if (exit_rank == (int)me.rank) {
    printf("rank %d exits before the fence\n", me.rank);
    return 3;
  }
  const double start = now_us();
  pmix_info_t info;
  PMIX_INFO_CONSTRUCT(&info);
  PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
  if ((rc = PMIx_Fence(NULL, 0, &info, 1)) != PMIX_SUCCESS) fail("PMIx_Fence", rc);
  const double fenced = now_us();
  int got = 0;
  for (uint32_t r = 0; r < size; ++r) {
    for (int k = 0; k < keys; ++k) {
      char key[64], want[128];
      snprintf(key, sizeof(key), "v1-key-%d", k);
      snprintf(want, sizeof(want), "value-%d-of-rank-%u", k, r);
      val = get_or_fail((int)r, key);
      if (val->type != PMIX_STRING || strcmp(val->data.string, want) != 0) {
        printf("FAIL rank %d: rank %u key %s is \"%s\", expected \"%s\"\n", me.rank, r, key,
               val->type == PMIX_STRING ? val->data.string : "(not a string)", want);
        return 1;
      }
      PMIX_VALUE_RELEASE(val);
      ++got;
    }
  }
  const double elapsed = now_us() - start;
  /* LOCAL data is visible to ranks of the same node: check own node peers. */
  char* list = strdup(peers);
  for (char* tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
    const int peer = atoi(tok);
    val = get_or_fail(peer, "v1-local");
    if (val->data.uint32 != (uint32_t)(1000 + peer)) fail("local key value", (int)val->data.uint32);
    PMIX_VALUE_RELEASE(val);
  }
  free(list);
  if ((rc = CLIENT_FINALIZE()) != PMIX_SUCCESS) fail("PMIx_Finalize", rc);
  if (timing) {
    printf("OK rank %d size %u peers %s host %s keys %d fence_us %.0f fence_get_us %.0f\n", me.rank,
           size, peers, host, got, fenced - start, elapsed);
  } else {
    printf("OK rank %d size %u peers %s host %s keys %d\n", me.rank, size, peers, host, got);
  }
  return 0;
}
