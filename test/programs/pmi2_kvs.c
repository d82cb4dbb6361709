/* pmi2_kvs: a PMI-2 wire client built on Slurm's libpmi2, for the end-to-end
 * tests of a PMI-2 server (pmi-bridge launch, or mpiexec.hydra as reference).
 *
 * Each rank puts several keys "k<rank>_<i>" whose values have lengths up to
 * the advertised limit (PMI2_MAX_VALLEN - 1 = 1023 bytes, content derived from
 * rank and index), fences, then reads every other rank's keys back and checks
 * them byte for byte. It also checks the job attribute PMI_process_mapping.
 *
 * Success prints exactly one line per rank:
 *   rank R of N: pmi2 ok mapping=<value>
 * Any failure prints "rank R of N: FAIL <reason>" on stderr and exits 1
 * (after PMI2_Abort once initialised, so that no other rank waits forever).
 * Built with gcc -lpmi2 by //test/programs:pmi2_kvs. */
#include <slurm/pmi2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Value lengths: tiny, around typical business-card sizes, and the limit. */
static const int kLengths[] = {1, 63, 64, 255, 512, 1000, PMI2_MAX_VALLEN - 1};
enum { kNumKeys = sizeof(kLengths) / sizeof(kLengths[0]) };

static int g_rank = -1;
static int g_size = -1;
static int g_initialized = 0;

static void Fail(const char* fmt, ...) {
  char reason[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  fprintf(stderr, "rank %d of %d: FAIL %s\n", g_rank, g_size, reason);
  fflush(stderr);
  if (g_initialized) PMI2_Abort(1, "pmi2_kvs check failed");
  exit(1);
}

/* Deterministic value of length `len` for (rank, index). Only [A-Za-z0-9._-]
 * so that no PMI dialect needs escaping (PMI-2 values must not hold ';', PMI-1
 * values must not hold spaces). */
static void MakeValue(int rank, int index, int len, char* out) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
  const unsigned n = sizeof(kAlphabet) - 1;
  for (int i = 0; i < len; ++i) {
    unsigned h = (unsigned)rank * 2654435761u + (unsigned)index * 40503u + (unsigned)i * 97u;
    out[i] = kAlphabet[(h ^ (h >> 13)) % n];
  }
  out[len] = '\0';
}

static int EnvInt(const char* name, int fallback) {
  const char* v = getenv(name);
  return (v != NULL && *v != '\0') ? atoi(v) : fallback;
}

int main(void) {
  int spawned = 0;
  int appnum = 0;
  int rc = PMI2_Init(&spawned, &g_size, &g_rank, &appnum);
  if (rc != PMI2_SUCCESS) Fail("PMI2_Init rc=%d", rc);
  g_initialized = 1;

  /* N singletons would each report size 1: compare with what the launcher
   * put in the environment. PMI_ID is the port-mode name of the rank. */
  int env_size = EnvInt("PMI_SIZE", -1);
  int env_rank = EnvInt("PMI_RANK", EnvInt("PMI_ID", -1));
  if (env_size >= 0 && env_size != g_size) {
    Fail("PMI2_Init size %d != PMI_SIZE %d", g_size, env_size);
  }
  if (env_rank >= 0 && env_rank != g_rank) {
    Fail("PMI2_Init rank %d != PMI_RANK/PMI_ID %d", g_rank, env_rank);
  }

  char jobid[256];
  rc = PMI2_Job_GetId(jobid, sizeof(jobid));
  if (rc != PMI2_SUCCESS) Fail("PMI2_Job_GetId rc=%d", rc);
  if (jobid[0] == '\0') Fail("PMI2_Job_GetId returned an empty id");

  char key[PMI2_MAX_KEYLEN];
  char value[PMI2_MAX_VALLEN + 1];
  for (int i = 0; i < kNumKeys; ++i) {
    snprintf(key, sizeof(key), "k%d_%d", g_rank, i);
    MakeValue(g_rank, i, kLengths[i], value);
    rc = PMI2_KVS_Put(key, value);
    if (rc != PMI2_SUCCESS) Fail("PMI2_KVS_Put %s (%d bytes) rc=%d", key, kLengths[i], rc);
  }

  rc = PMI2_KVS_Fence();
  if (rc != PMI2_SUCCESS) Fail("PMI2_KVS_Fence rc=%d", rc);

  char expected[PMI2_MAX_VALLEN + 1];
  for (int peer = 0; peer < g_size; ++peer) {
    if (peer == g_rank) continue;
    for (int i = 0; i < kNumKeys; ++i) {
      snprintf(key, sizeof(key), "k%d_%d", peer, i);
      MakeValue(peer, i, kLengths[i], expected);
      memset(value, 0, sizeof(value));
      int vallen = -1;
      rc = PMI2_KVS_Get(jobid, peer, key, value, sizeof(value), &vallen);
      if (rc != PMI2_SUCCESS) Fail("PMI2_KVS_Get %s rc=%d", key, rc);
      size_t got = strlen(value);
      if (got != (size_t)kLengths[i] || memcmp(value, expected, got) != 0) {
        Fail(
            "PMI2_KVS_Get %s: got %zu bytes \"%.40s...\", want %d bytes "
            "\"%.40s...\"",
            key, got, value, kLengths[i], expected);
      }
    }
  }

  char mapping[PMI2_MAX_ATTRVALUE + 1];
  int found = 0;
  memset(mapping, 0, sizeof(mapping));
  rc = PMI2_Info_GetJobAttr("PMI_process_mapping", mapping, sizeof(mapping), &found);
  if (rc != PMI2_SUCCESS) Fail("PMI2_Info_GetJobAttr rc=%d", rc);
  if (!found) Fail("PMI_process_mapping not found");
  if (strncmp(mapping, "(vector,", 8) != 0) {
    Fail("PMI_process_mapping \"%s\" does not start with \"(vector,\"", mapping);
  }

  rc = PMI2_Finalize();
  g_initialized = 0;
  if (rc != PMI2_SUCCESS) Fail("PMI2_Finalize rc=%d", rc);
  printf("rank %d of %d: pmi2 ok mapping=%s\n", g_rank, g_size, mapping);
  fflush(stdout);
  return 0;
}
