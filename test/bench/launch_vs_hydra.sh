#!/bin/bash
# launch_vs_hydra.sh: start-up cost of `pmi-bridge launch` against MPICH's own
# launcher, mpiexec.hydra, for the same real MPICH job (mpi_hello: MPI_Init,
# print, MPI_Finalize), measured side by side in one run.
#
# Both launchers run the job RUNS times, interleaved (A B, B A, A B, ...) so
# that drift in machine load hits both alike; the figure that matters is the
# ratio bridge/hydra of the medians (target: <= 1.0). Everything runs inside
# a private network namespace with only loopback up, so the jobs' TCP traffic
# (PMI_PORT, UCX) never touches a real interface. Needs root (unshare --net).
#
#   test/bench/launch_vs_hydra.sh                 # 10 runs of 16 ranks
#   RUNS=30 RANKS=8 test/bench/launch_vs_hydra.sh
#   PMI_MODE=port test/bench/launch_vs_hydra.sh   # --pmi-port / -pmi-port
#   BUSY=2 RANKS=8 test/bench/launch_vs_hydra.sh  # contended: 2 busy loops beside the job
#   BUSY=both RANKS=8 test/bench/launch_vs_hydra.sh   # quiet, then with one busy loop per CPU
#   bazel run //test/bench:launch_vs_hydra         # the same, via Bazel
#
# Timing uses hyperfine (one run per command per round, no shell: -N) when it
# is installed, otherwise (or with NO_HYPERFINE=1) date +%s%N around each run.
# MPICH here is ch4:ucx; 16 ranks on loopback in a private namespace needed
# no UCX setting. Any UCX_* variable set by the caller (e.g. UCX_TLS=tcp,self)
# is passed to both launchers alike.
set -euo pipefail

die() { echo "launch_vs_hydra: $*" >&2; exit 1; }

RUNS=${RUNS:-10}
RANKS=${RANKS:-16}
PMI_MODE=${PMI_MODE:-fd}
# Contended mode: BUSY=N processes spin (at the job's priority) during every
# timed run, as a node full of busy-polling ranks or a build would; "both"
# measures quiet (0) and then one loop per CPU.
BUSY=${BUSY:-0}
if [[ "$BUSY" == both && "${1:-}" != "--in-netns" ]]; then
  BUSY=0 bash "$0" "$@" || exit
  BUSY=$(nproc) exec bash "$0" "$@"
fi
[[ "$BUSY" =~ ^[0-9]+$ ]] || die "BUSY must be a number or 'both'"

if [[ "${1:-}" != "--in-netns" ]]; then
  # `bazel run` starts us in the runfiles tree; it names the workspace.
  cd "${BUILD_WORKSPACE_DIRECTORY:-$(dirname "$0")/../..}"
  command -v mpiexec.hydra >/dev/null || die "mpiexec.hydra not found; run tools/setup.sh (package mpich)"
  # Build outside the namespace: the bazel client reaches its server over
  # the host's loopback.
  bazel build //bridge/cli:pmi-bridge //test/programs:mpi_hello >&2 ||
    die "bazel build failed"
  bin=$(bazel info bazel-bin 2>/dev/null)
  # Private copies: a rebuild during the benchmark must not swap binaries.
  work=$(mktemp -d /tmp/launch_vs_hydra.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  cp "$bin/bridge/cli/pmi-bridge" "$bin/test/programs/bin/mpi_hello" "$work/"
  unshare --net -- bash "$0" --in-netns "$work" ||
    die "failed (unshare --net needs root / CAP_SYS_ADMIN)"
  exit 0
fi

work=$2
ip link set lo up
bridge_cmd=("$work/pmi-bridge" launch -n "$RANKS")
hydra_cmd=(mpiexec.hydra -n "$RANKS")
if [[ "$PMI_MODE" == port ]]; then
  bridge_cmd+=(--pmi-port)
  hydra_cmd+=(-pmi-port)
fi
bridge_cmd+=(-- "$work/mpi_hello")
hydra_cmd+=("$work/mpi_hello")

# A timing of a broken job means nothing: check both once (this is also the
# warm-up that loads binaries and libraries into the page cache).
for name in bridge hydra; do
  declare -n cmd="${name}_cmd"
  out=$("${cmd[@]}" 2>&1) || die "$name run failed: ${cmd[*]}"$'\n'"$out"
  lines=$(grep -c "^hello from rank [0-9]* of $RANKS\$" <<<"$out" || true)
  [[ "$lines" == "$RANKS" ]] || die "$name printed $lines of $RANKS hello lines:"$'\n'"$out"
done

# The busy loops start after the warm-up and spin until we exit.
busy_pids=()
trap 'kill "${busy_pids[@]}" 2>/dev/null || true' EXIT
for ((i = 0; i < BUSY; i++)); do
  bash -c 'while :; do :; done' &
  busy_pids+=($!)
done

times="$work/times"
: >"$times"
use_hyperfine=0
[[ -z "${NO_HYPERFINE:-}" ]] && command -v hyperfine >/dev/null && use_hyperfine=1

run_pair() {  # run_pair FIRST SECOND: one timed run of each, in that order
  if ((use_hyperfine)); then
    local -n first="${1}_cmd" second="${2}_cmd"
    hyperfine -N --runs 1 --style none --export-json "$work/round.json" \
      -n "$1" "${first[*]}" -n "$2" "${second[*]}" >/dev/null
    python3 - "$work/round.json" >>"$times" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    for t in r["times"]:
        print(r["command"], int(t * 1e9))
EOF
  else
    local name
    for name in "$1" "$2"; do
      local -n cmd="${name}_cmd"
      local t0 t1
      t0=$(date +%s%N)
      "${cmd[@]}" >/dev/null 2>&1 || die "$name run failed"
      t1=$(date +%s%N)
      echo "$name $((t1 - t0))" >>"$times"
    done
  fi
}

for ((i = 0; i < RUNS; i++)); do
  if ((i % 2 == 0)); then run_pair bridge hydra; else run_pair hydra bridge; fi
done

tool=$([[ $use_hyperfine == 1 ]] && echo "hyperfine -N" || echo "date +%s%N")
echo "$RANKS-rank mpi_hello, $RUNS interleaved runs each, PMI $PMI_MODE mode, $BUSY busy loops" \
  "on $(nproc) CPUs, timed with $tool, private netns"
python3 - "$times" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, ns = line.split()
    runs.setdefault(name, []).append(int(ns) / 1e6)
label = {"bridge": "pmi-bridge launch", "hydra": "mpiexec.hydra"}
print(f"{'launcher':<18} {'runs':>4} {'median ms':>10} {'mean ms':>9} {'stdev ms':>9} {'min ms':>8} {'max ms':>8}")
for name in ("bridge", "hydra"):
    t = runs[name]
    sd = statistics.stdev(t) if len(t) > 1 else 0.0
    print(f"{label[name]:<18} {len(t):>4} {statistics.median(t):>10.1f} {statistics.mean(t):>9.1f} "
          f"{sd:>9.1f} {min(t):>8.1f} {max(t):>8.1f}")
med = statistics.median(runs["bridge"]) / statistics.median(runs["hydra"])
mean = statistics.mean(runs["bridge"]) / statistics.mean(runs["hydra"])
verdict = "ok" if med <= 1.0 else "ABOVE TARGET"
print(f"ratio bridge/hydra: median {med:.2f}, mean {mean:.2f}  (target <= 1.0: {verdict})")
EOF
