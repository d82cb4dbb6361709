// pmix_probe: a libpmix client for PmixServer tests (testonly).
//
//   pmix_probe [--no-collect] [--abort-rank R] [--vanish-rank R] [--bytes B]
//
// PMIx_Init, checks job-level data, puts a B-byte (default 3000, i.e. more
// than one PMI value) string under "probe-value" with PMIX_GLOBAL scope,
// commits, fences (with PMIX_COLLECT_DATA unless --no-collect, so remote
// values then come through direct modex), gets every other rank's value and
// compares it, then fences again and finalizes. Prints
//   rank R of N: pmix ok local=L/S
// and exits 0, or prints "rank R: FAIL ..." and exits 1.
// --abort-rank R: rank R calls PMIx_Abort(7, "probe abort") after init.
// --vanish-rank R: rank R exits(3) after init without PMIx_Finalize.
// --hang-rank R: rank R waits for a signal after init (the others block in
// the fence until the launcher gives up).
#include <pmix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

namespace {

pmix_proc_t me;

[[noreturn]] void Fail(const std::string& what, pmix_status_t rc) {
  printf("rank %u: FAIL %s: %s\n", me.rank, what.c_str(), PMIx_Error_string(rc));
  fflush(stdout);
  exit(1);
}

std::string ValueOf(pmix_rank_t rank, size_t bytes) {
  std::string value = "rank" + std::to_string(rank) + ":";
  while (value.size() < bytes) value += static_cast<char>('a' + (value.size() * 7 + rank) % 26);
  return value;
}

uint32_t GetUint32(const pmix_proc_t& proc, const char* key) {
  pmix_value_t* value = nullptr;
  const pmix_status_t rc = PMIx_Get(&proc, key, nullptr, 0, &value);
  if (rc != PMIX_SUCCESS) Fail(std::string("PMIx_Get ") + key, rc);
  uint32_t out = 0;
  if (value->type == PMIX_UINT32)
    out = value->data.uint32;
  else if (value->type == PMIX_UINT16)
    out = value->data.uint16;
  else
    Fail(std::string("unexpected type for ") + key, PMIX_ERR_TYPE_MISMATCH);
  PMIX_VALUE_RELEASE(value);
  return out;
}

// What the command line asks for; ranks are -1 when no rank is meant.
struct ProbeOptions {
  bool collect = true;
  long abort_rank = -1;
  long vanish_rank = -1;
  long hang_rank = -1;
  size_t bytes = 3000;
};

// Unknown arguments, and flags missing their value, are ignored.
ProbeOptions ParseOptions(int argc, char** argv) {
  ProbeOptions options;
  const struct {
    const char* flag;
    long* rank;
  } rank_flags[] = {
      {"--abort-rank", &options.abort_rank},
      {"--vanish-rank", &options.vanish_rank},
      {"--hang-rank", &options.hang_rank},
  };
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--no-collect") == 0) {
      options.collect = false;
      continue;
    }
    if (i + 1 >= argc) continue;
    bool matched = false;
    for (const auto& rank_flag : rank_flags) {
      if (strcmp(argv[i], rank_flag.flag) != 0) continue;
      *rank_flag.rank = atol(argv[++i]);
      matched = true;
      break;
    }
    if (!matched && strcmp(argv[i], "--bytes") == 0)
      options.bytes = strtoul(argv[++i], nullptr, 10);
  }
  return options;
}

// Acts out --abort-rank, --vanish-rank and --hang-rank when they name this rank.
void MisbehaveIfAsked(const ProbeOptions& options) {
  const long rank = static_cast<long>(me.rank);
  if (rank == options.abort_rank) {
    PMIx_Abort(7, "probe abort", nullptr, 0);
    sleep(30);  // the launcher ends us
    exit(0);
  }
  if (rank == options.vanish_rank) _exit(3);
  if (rank == options.hang_rank) pause();
}

void PutAndCommit(const std::string& mine) {
  pmix_value_t value;
  PMIX_VALUE_LOAD(&value, mine.c_str(), PMIX_STRING);
  pmix_status_t rc = PMIx_Put(PMIX_GLOBAL, "probe-value", &value);
  PMIX_VALUE_DESTRUCT(&value);
  if (rc != PMIX_SUCCESS) Fail("PMIx_Put", rc);
  if ((rc = PMIx_Commit()) != PMIX_SUCCESS) Fail("PMIx_Commit", rc);
}

void FenceCollecting(const pmix_proc_t& wildcard, bool collect) {
  pmix_info_t info;
  bool flag = collect;
  PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &flag, PMIX_BOOL);
  const pmix_status_t rc = PMIx_Fence(&wildcard, 1, &info, 1);
  PMIX_INFO_DESTRUCT(&info);
  if (rc != PMIX_SUCCESS) Fail("PMIx_Fence", rc);
}

// Every other rank's "probe-value" must be the one ValueOf gives for it.
void CheckPeerValues(uint32_t size, size_t bytes) {
  for (uint32_t rank = 0; rank < size; ++rank) {
    if (rank == me.rank) continue;
    pmix_proc_t peer;
    PMIX_PROC_LOAD(&peer, me.nspace, rank);
    pmix_value_t* got = nullptr;
    const pmix_status_t rc = PMIx_Get(&peer, "probe-value", nullptr, 0, &got);
    if (rc != PMIX_SUCCESS) Fail("PMIx_Get probe-value of rank " + std::to_string(rank), rc);
    if (got->type != PMIX_STRING || ValueOf(rank, bytes) != got->data.string) {
      Fail("wrong probe-value from rank " + std::to_string(rank), PMIX_ERR_BAD_PARAM);
    }
    PMIX_VALUE_RELEASE(got);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const ProbeOptions options = ParseOptions(argc, argv);
  setvbuf(stdout, nullptr, _IOLBF, 0);
  pmix_status_t rc = PMIx_Init(&me, nullptr, 0);
  if (rc != PMIX_SUCCESS) Fail("PMIx_Init", rc);

  pmix_proc_t wildcard;
  PMIX_PROC_LOAD(&wildcard, me.nspace, PMIX_RANK_WILDCARD);
  const uint32_t size = GetUint32(wildcard, PMIX_JOB_SIZE);
  const uint32_t local_size = GetUint32(wildcard, PMIX_LOCAL_SIZE);
  const uint32_t local_rank = GetUint32(me, PMIX_LOCAL_RANK);
  if (size < 1 || me.rank >= size) Fail("rank outside job size", PMIX_ERR_BAD_PARAM);

  MisbehaveIfAsked(options);
  PutAndCommit(ValueOf(me.rank, options.bytes));
  FenceCollecting(wildcard, options.collect);
  CheckPeerValues(size, options.bytes);
  if ((rc = PMIx_Fence(&wildcard, 1, nullptr, 0)) != PMIX_SUCCESS) Fail("second PMIx_Fence", rc);
  printf("rank %u of %u: pmix ok local=%u/%u\n", me.rank, size, local_rank, local_size);
  if ((rc = PMIx_Finalize(nullptr, 0)) != PMIX_SUCCESS) Fail("PMIx_Finalize", rc);
  return 0;
}
