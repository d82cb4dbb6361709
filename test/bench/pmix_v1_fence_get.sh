#!/bin/bash
# pmix_v1_fence_get.sh: fence + get through the bridge's native PMIx v1.2
# endpoint against a current PMIx client through the bridge (issue 15),
# side by side in one run on the same host (design.md §7):
#
#   v1.2:     mpiexec.hydra -n RANKS pmi-bridge exec -- pmix_v1_client
#             (OpenPMIx 1.2.5 from the peers lab; the bridge picks its
#             PmixV1Server by reading what the program links)
#   current:  mpiexec.hydra -n RANKS pmi-bridge exec --downstream pmix --
#             pmix_current_client (the same program on Debian's libpmix
#             4.2.2, served by the bridge's libpmix server)
#
# The ranks line up with a fence that collects nothing; then each puts KEYS
# string keys, commits, and times from before a fence with data collection
# to after it (fence_us) and to after its get of every key of every rank
# (RANKS * KEYS gets; fence_get_us). Per run the figure is the slowest
# rank's time (the fence ends when the last rank is through); RUNS runs
# interleaved, then the median per side. Figure: v1.2 / current, target
# <= 1.2. Every run is checked (each rank's OK line, the job size, the key
# count) before its time counts.
#
# Runs inside a private network namespace with only loopback up (unshare
# --net, needs root); binaries are built outside it and copied.
#
#   test/bench/pmix_v1_fence_get.sh            # RANKS=8 KEYS=64 RUNS=10
#   RUNS=20 test/bench/pmix_v1_fence_get.sh
set -euo pipefail

RANKS=${RANKS:-8}
KEYS=${KEYS:-64}
RUNS=${RUNS:-10}
JOB_TIMEOUT=${JOB_TIMEOUT:-120}

die() { echo "pmix_v1_fence_get: $*" >&2; exit 1; }

if [[ "${1:-}" != "--in-netns" ]]; then
  cd "${BUILD_WORKSPACE_DIRECTORY:-$(dirname "$0")/../..}"
  for tool in mpiexec.hydra unshare python3 ip; do
    command -v "$tool" >/dev/null || die "$tool not found (see tools/setup.sh)"
  done
  [[ -r /opt/pmi-shim-peers/openpmix-1.2.5/lib/libpmix.so.2 ]] ||
    die "the peers lab's OpenPMIx 1.2.5 is not installed (tools/setup.sh installs it)"
  bazel build -c opt //bridge/cli:pmi-bridge >&2 || die "bazel build -c opt failed"
  bazel build //test/programs:pmix_v1_client //test/programs:pmix_current_client >&2 ||
    die "bazel build failed"
  source tools/bazel_outputs.sh  # Bazel names its output paths; never guess them
  work=$(mktemp -d /tmp/pmix_v1_fence_get.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  cp "$(bazel_output -c opt //bridge/cli:pmi-bridge)" \
    "$(bazel_output //test/programs:pmix_v1_client)" \
    "$(bazel_output //test/programs:pmix_current_client)" "$work/" || die "built programs not found"
  echo "bridge $(git rev-parse --short HEAD 2>/dev/null || echo '?') -c opt" >"$work/source.txt"
  unshare --net -- "$0" --in-netns "$work" ||
    die "failed (see above; unshare --net needs root / CAP_SYS_ADMIN)"
  exit 0
fi

work=$2
ip link set lo up
export MPIEXEC_TIMEOUT=$JOB_TIMEOUT
export TMPDIR=$work
v1_cmd=(mpiexec.hydra -n "$RANKS" "$work/pmi-bridge" exec -- "$work/pmix_v1_client"
        --keys "$KEYS" --time)
current_cmd=(mpiexec.hydra -n "$RANKS" "$work/pmi-bridge" exec --downstream pmix --
             "$work/pmix_current_client" --keys "$KEYS" --time)

# One run: checks every rank's line and prints the slowest fence_get_us.
check_script='
import re, sys
ranks, keys, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
text = sys.stdin.read()
seen = {}
pattern = r"^OK rank (\d+) size (\d+) .* keys (\d+) fence_us (\d+) fence_get_us (\d+)$"
for m in re.finditer(pattern, text, re.M):
    rank, size, got, fence, total = map(int, m.groups())
    if size != ranks or got != ranks * keys:
        sys.exit("%s: rank %d saw size %d and %d keys\n%s" % (name, rank, size, got, text))
    seen[rank] = (fence, total)
if sorted(seen) != list(range(ranks)):
    sys.exit("%s: OK lines from ranks %s of %d\n%s" % (name, sorted(seen), ranks, text))
print(max(f for f, _ in seen.values()), max(t for _, t in seen.values()))
'
run_once() {
  local name=$1
  local -n cmd="${name}_cmd"
  local out
  out=$("${cmd[@]}" 2>&1) || die "$name run failed: ${cmd[*]}"$'\n'"$out"
  python3 -c "$check_script" "$RANKS" "$KEYS" "$name" <<<"$out"
}

# Warm-up (page cache) and a check of both sides.
run_once v1 >/dev/null
run_once current >/dev/null

: >"$work/times"
for ((i = 0; i < RUNS; i++)); do
  echo "v1 $(run_once v1)" >>"$work/times"
  echo "current $(run_once current)" >>"$work/times"
done

python3 - "$work/times" "$RANKS" "$KEYS" "$RUNS" "$(cat "$work/source.txt")" <<'EOF'
import statistics, sys
path, ranks, keys, runs, source = sys.argv[1:6]
t = {"v1": [], "current": []}
f = {"v1": [], "current": []}
for line in open(path):
    name, fence, total = line.split()
    f[name].append(int(fence))
    t[name].append(int(total))
m = {k: statistics.median(v) for k, v in t.items()}
mf = {k: statistics.median(v) for k, v in f.items()}
print("fence + get, %s ranks x %s keys (each rank gets all %d values), %s runs, %s" %
      (ranks, keys, int(ranks) * int(keys), runs, source))
for name, label in (("v1", "PMIx v1.2 client (1.2.5) via the native endpoint"),
                    ("current", "current PMIx client (4.2.2) via the bridge's libpmix server")):
    v = sorted(t[name])
    print("  %-60s fence+get median %7.0f us (min %d, max %d); fence alone %7.0f us" %
          (label, m[name], v[0], v[-1], mf[name]))
ratio = m["v1"] / m["current"]
print("  ratio v1.2 / current: %.2f  (target <= 1.2: %s); fence alone %.2f" %
      (ratio, "met" if ratio <= 1.2 else "NOT met", mf["v1"] / mf["current"]))
EOF
