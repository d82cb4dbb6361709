#!/bin/bash
# bridge_overhead.sh: what `pmi-bridge exec` costs under a real launcher
# (issue 3), measured side by side in one run (design.md §7):
#
#   1. start-up: a RANKS-rank MPICH hello (mpi_hello: MPI_Init, print,
#      MPI_Finalize) run directly by mpiexec.hydra and with every rank behind
#      a bridge (`mpiexec.hydra -n 16 pmi-bridge exec -- mpi_hello`), RUNS
#      rounds interleaved, in PMI_FD mode and with -pmi-port (PMI_MODES);
#      figure: ratio of the medians bridged/direct, target <= 1.10.
#   2. get latency after a fence: pmi_get_latency (a raw PMI-1 wire client,
#      see pmi_get_latency.c) with LAT_RANKS ranks, direct vs bridged,
#      LAT_RUNS runs interleaved; per run the median over ranks of each
#      rank's median get round trip, then the median over runs. Figure:
#      bridged/direct for the first read of each key after the fence (what
#      an MPI library does with business cards), target <= 1.0. Also shown:
#      a second read of the same keys (a server that remembers what it read
#      this epoch answers from memory) and PMI_process_mapping, which the
#      bridge always answers from memory; bridged "again"/"mapping" over
#      direct "first" is what serving every get from what the fence
#      collected would give.
#   3. bridge peak RSS: RSS_RUNS bridged RANKS-rank hello jobs with each
#      `pmi-bridge exec` started by a small wrapper that samples its
#      /proc/PID/status (VmHWM, the peak RSS) and smaps_rollup (Pss,
#      Private_*) every RSS_INTERVAL seconds until it exits; max and mean
#      over bridges in MiB, target <= 4 MiB. VmHWM counts the resident pages
#      of the binary and shared libraries, which all bridges on a node share;
#      Private (clean + dirty) is what each extra bridge really adds, Pss
#      its fair share of the shared pages. (/usr/bin/time %M would not do:
#      the rusage of a waited-for process includes its own waited-for
#      children, i.e. the MPI rank the bridge serves.)
#
# Everything runs inside a private network namespace with only loopback up
# (needs root: unshare --net); the binaries are built outside it (the bazel
# client talks to its server over the host's loopback) and copied, so a
# concurrent rebuild cannot swap them mid-run. Every job is bounded by
# MPIEXEC_TIMEOUT (hydra kills it), every loop by a count. The temp dir is
# removed on exit.
#
#   test/bench/bridge_overhead.sh                   # RUNS=10 rounds
#   RUNS=5 PMI_MODES=fd test/bench/bridge_overhead.sh
#   bazel run //test/bench:bridge_overhead           # the same, via Bazel
#
# Knobs: RUNS (10), RANKS (16), PMI_MODES ("fd port"), LAT_RUNS (RUNS),
# LAT_RANKS (4), GETS (1000), VALUE_BYTES (64), RSS_RUNS (3), RSS_INTERVAL
# (0.01 s), JOB_TIMEOUT (120 s per job), NO_HYPERFINE=1 (time start-up with
# date +%s%N instead of hyperfine -N). Start-up rounds are timed with
# hyperfine -N (no shell, one run per command per round) when installed.
set -euo pipefail

RUNS=${RUNS:-10}
RANKS=${RANKS:-16}
PMI_MODES=${PMI_MODES:-fd port}
LAT_RUNS=${LAT_RUNS:-$RUNS}
LAT_RANKS=${LAT_RANKS:-4}
GETS=${GETS:-1000}
VALUE_BYTES=${VALUE_BYTES:-64}
RSS_RUNS=${RSS_RUNS:-3}
RSS_INTERVAL=${RSS_INTERVAL:-0.01}
JOB_TIMEOUT=${JOB_TIMEOUT:-120}

die() { echo "bridge_overhead: $*" >&2; exit 1; }

if [[ "${1:-}" != "--in-netns" ]]; then
  # `bazel run` starts us in the runfiles tree; it names the workspace.
  cd "${BUILD_WORKSPACE_DIRECTORY:-$(dirname "$0")/../..}"
  for tool in mpiexec.hydra unshare python3 ip; do
    command -v "$tool" >/dev/null || die "$tool not found (mpiexec.hydra: package mpich, see tools/setup.sh)"
  done
  for mode in $PMI_MODES; do
    [[ "$mode" == fd || "$mode" == port ]] || die "PMI_MODES: '$mode' is not fd or port"
  done
  # The bridge as it would be installed (optimised); the test programs as usual.
  bazel build -c opt //bridge/cli:pmi-bridge >&2 || die "bazel build -c opt failed"
  bazel build //test/programs:mpi_hello //test/bench:pmi_get_latency >&2 ||
    die "bazel build failed"
  source tools/bazel_outputs.sh  # Bazel names its output paths; never guess them
  work=$(mktemp -d /tmp/bridge_overhead.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  cp "$(bazel_output -c opt //bridge/cli:pmi-bridge)" "$(bazel_output //test/programs:mpi_hello)" \
    "$(bazel_output //test/bench:pmi_get_latency)" "$work/" || die "built programs not found"
  # Which bridge was measured: the commit, and uncommitted changes if any.
  {
    echo "bridge: $(git rev-parse --short HEAD 2>/dev/null || echo '?') (-c opt)"
    dirty=$(git status --porcelain -- bridge common 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
    [[ -z "$dirty" ]] || echo "  with uncommitted changes in: $dirty"
  } >"$work/source.txt"
  unshare --net -- "$0" --in-netns "$work" ||
    die "failed (see above; unshare --net needs root / CAP_SYS_ADMIN)"
  exit 0
fi

work=$2
ip link set lo up
export MPIEXEC_TIMEOUT=$JOB_TIMEOUT  # hydra ends any job that runs longer
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1. start-up -----------------------------------------------------------
for mode in $PMI_MODES; do
  opt=()
  [[ "$mode" == port ]] && opt=(-pmi-port)
  declare -a "direct_${mode}_cmd=(mpiexec.hydra ${opt[*]} -n $RANKS $work/mpi_hello)"
  declare -a "bridged_${mode}_cmd=(mpiexec.hydra ${opt[*]} -n $RANKS $work/pmi-bridge exec -- $work/mpi_hello)"
  # A timing of a broken job means nothing: check each once (this is also
  # the warm-up that loads binaries and libraries into the page cache).
  for name in "direct_$mode" "bridged_$mode"; do
    declare -n cmd="${name}_cmd"
    out=$("${cmd[@]}" 2>&1) || die "$name run failed: ${cmd[*]}"$'\n'"$out"
    lines=$(grep -c "^hello from rank [0-9]* of $RANKS\$" <<<"$out" || true)
    [[ "$lines" == "$RANKS" ]] || die "$name printed $lines of $RANKS hello lines:"$'\n'"$out"
    unset -n cmd
  done
done

times="$work/times"
: >"$times"
use_hyperfine=0
[[ -z "${NO_HYPERFINE:-}" ]] && command -v hyperfine >/dev/null && use_hyperfine=1

run_round() {  # run_round NAME...: one timed run of each, in that order
  if ((use_hyperfine)); then
    local args=() name
    for name in "$@"; do
      local -n cmd="${name}_cmd"
      args+=(-n "$name" "${cmd[*]}")
      unset -n cmd
    done
    hyperfine -N --runs 1 --style none --export-json "$work/round.json" "${args[@]}" >/dev/null ||
      die "a timed start-up run failed: $*"
    python3 - "$work/round.json" >>"$times" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    for t in r["times"]:
        print(r["command"], int(t * 1e9))
EOF
  else
    local name t0 t1
    for name in "$@"; do
      local -n cmd="${name}_cmd"
      t0=$(date +%s%N)
      "${cmd[@]}" >/dev/null 2>&1 || die "$name run failed"
      t1=$(date +%s%N)
      echo "$name $((t1 - t0))" >>"$times"
      unset -n cmd
    done
  fi
}

read -r -a modes <<<"$PMI_MODES"
for ((i = 0; i < RUNS; i++)); do
  # Alternate the order of the modes and, within each, of direct/bridged,
  # so that drift in machine load hits both alike.
  order=()
  for ((m = 0; m < ${#modes[@]}; m++)); do
    mode=${modes[$(( i % 2 ? ${#modes[@]} - 1 - m : m ))]}
    if (( (i + m) % 2 == 0 )); then
      order+=("direct_$mode" "bridged_$mode")
    else
      order+=("bridged_$mode" "direct_$mode")
    fi
  done
  run_round "${order[@]}"
done

# --- 2. get latency after a fence ------------------------------------------
mkdir -p "$work/lat"
# shellcheck disable=SC2034  # used through the nameref in run_latency
lat_direct=(mpiexec.hydra -n "$LAT_RANKS" "$work/pmi_get_latency" "$GETS" "$VALUE_BYTES")
# shellcheck disable=SC2034
lat_bridged=(mpiexec.hydra -n "$LAT_RANKS" "$work/pmi-bridge" exec -- "$work/pmi_get_latency" "$GETS" "$VALUE_BYTES")
run_latency() {  # run_latency direct|bridged ROUND
  local -n cmd="lat_$1"
  local out="$work/lat/$1.$2"
  "${cmd[@]}" >"$out" 2>&1 || die "latency run ($1) failed:"$'\n'"$(cat "$out")"
  local lines
  lines=$(grep -c '^pmi_get_latency rank=' "$out" || true)
  ((lines == 3 * LAT_RANKS)) || die "latency run ($1) printed $lines of $((3 * LAT_RANKS)) lines:"$'\n'"$(cat "$out")"
}
run_latency direct warmup
run_latency bridged warmup
rm -f "$work"/lat/*.warmup
for ((i = 0; i < LAT_RUNS; i++)); do
  if ((i % 2 == 0)); then
    run_latency direct "$i"; run_latency bridged "$i"
  else
    run_latency bridged "$i"; run_latency direct "$i"
  fi
done

# --- 3. bridge peak RSS ----------------------------------------------------
# The wrapper is the rank hydra starts; it runs the bridge as its child and
# samples it with shell builtins only (the sleep is a read with a timeout on
# a pipe that never delivers), so sampling forks nothing. VmHWM only grows,
# so the last sample before exit is the peak up to then; what grows in the
# final RSS_INTERVAL before exit is missed. Each bridge writes one line.
mkdir -p "$work/rss"
cat >"$work/rsswrap.sh" <<'EOF'
#!/bin/bash
# rsswrap.sh OUTFILE MAX_SAMPLES INTERVAL CMD...: run CMD, sample its memory.
out=$1 max=$2 interval=$3
shift 3
"$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
exec {pause}<> <(:)
hwm=0 rss=0 pss=0 priv=0 n=0
for ((i = 0; i < max; i++)); do
  h=""
  while read -r k v _; do
    case $k in VmHWM:) h=$v ;; VmRSS:) r=$v ;; esac
  done 2>/dev/null </proc/$pid/status || break
  [[ -n "$h" ]] || break  # a zombie: its memory is gone
  hwm=$h rss=$r n=$((n + 1))
  p=0 q=""
  while read -r k v _; do
    case $k in Pss:) q=$v ;; Private_Clean:|Private_Dirty:) p=$((p + v)) ;; esac
  done 2>/dev/null </proc/$pid/smaps_rollup
  [[ -n "$q" ]] && pss=$q priv=$p
  read -r -t "$interval" -u "$pause" || true
done
wait "$pid"
status=$?
echo "rank=${PMI_RANK:-${PMI_ID:-?}} hwm_kb=$hwm rss_kb=$rss pss_kb=$pss private_kb=$priv samples=$n" >>"$out"
exit $status
EOF
chmod +x "$work/rsswrap.sh"
# Samples allowed per bridge: JOB_TIMEOUT worth at RSS_INTERVAL.
max_samples=$(python3 -c "print(int($JOB_TIMEOUT / $RSS_INTERVAL) + 1)")
for ((i = 0; i < RSS_RUNS; i++)); do
  out=$(mpiexec.hydra -n "$RANKS" "$work/rsswrap.sh" "$work/rss/run$i" "$max_samples" "$RSS_INTERVAL" \
          "$work/pmi-bridge" exec -- "$work/mpi_hello" 2>&1) || die "RSS run failed:"$'\n'"$out"
  lines=$(wc -l <"$work/rss/run$i")
  ((lines == RANKS)) || die "RSS run $i: $lines of $RANKS bridges reported"
done

# --- report ------------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
tool=$([[ $use_hyperfine == 1 ]] && echo "hyperfine -N" || echo "date +%s%N")
cat "$work/source.txt"
echo "machine: $(nproc) CPUs; load average before $load_before, after $load_after; private netns"
python3 - "$work" "$RANKS" "$RUNS" "$PMI_MODES" "$LAT_RANKS" "$LAT_RUNS" "$GETS" "$VALUE_BYTES" \
  "$RSS_RUNS" "$RSS_INTERVAL" "$tool" <<'EOF'
import glob, os, re, statistics as st, sys
work, ranks, runs, modes, lat_ranks, lat_runs, gets, vbytes, rss_runs, interval, tool = sys.argv[1:]
modes = modes.split()
rows = []  # (figure, value text, target text, verdict)

def verdict(value, limit):
    return "pass" if value <= limit else "OVER"

print()
print(f"1. start-up: {ranks}-rank mpi_hello, {runs} interleaved rounds, timed with {tool}")
runs_ms = {}
for line in open(os.path.join(work, "times")):
    name, ns = line.split()
    runs_ms.setdefault(name, []).append(int(ns) / 1e6)
print(f"   {'job':<22} {'runs':>4} {'median ms':>10} {'mean ms':>9} {'stdev ms':>9} {'min ms':>8} {'max ms':>8}")
for mode in modes:
    for who in ("direct", "bridged"):
        t = runs_ms[f"{who}_{mode}"]
        sd = st.stdev(t) if len(t) > 1 else 0.0
        print(f"   {who + ' (' + mode + ')':<22} {len(t):>4} {st.median(t):>10.1f} {st.mean(t):>9.1f} "
              f"{sd:>9.1f} {min(t):>8.1f} {max(t):>8.1f}")
for mode in modes:
    b, d = runs_ms[f"bridged_{mode}"], runs_ms[f"direct_{mode}"]
    ratio = st.median(b) / st.median(d)
    print(f"   bridged/direct ({mode}): median {ratio:.2f}, mean {st.mean(b) / st.mean(d):.2f}, "
          f"extra {st.median(b) - st.median(d):+.0f} ms per job")
    rows.append((f"start-up {ranks}-rank hello, bridged/direct ({mode})", f"{ratio:.2f}", "<= 1.10",
                 verdict(ratio, 1.10)))

print()
print(f"2. get latency after a fence: pmi_get_latency, {lat_ranks} ranks, {gets} gets per phase, "
      f"{vbytes}-byte values, {lat_runs} interleaved runs")
pat = re.compile(r"^pmi_get_latency rank=(\d+) size=\d+ key=(\w+) .*median_us=([\d.]+)")
per_run = {}  # (who, phase) -> [median over ranks of per-rank medians, one per run]
for path in glob.glob(os.path.join(work, "lat", "*")):
    who = os.path.basename(path).split(".")[0]
    by_phase = {}
    for line in open(path):
        m = pat.match(line)
        if m:
            by_phase.setdefault(m.group(2), []).append(float(m.group(3)))
    for phase, medians in by_phase.items():
        per_run.setdefault((who, phase), []).append(st.median(medians))
lat = {key: st.median(v) for key, v in per_run.items()}
print(f"   {'phase':<9} {'direct us':>10} {'bridged us':>11} {'bridged/direct':>15}   (median over runs of the median over ranks)")
for phase in ("first", "again", "mapping"):
    d, b = lat[("direct", phase)], lat[("bridged", phase)]
    print(f"   {phase:<9} {d:>10.1f} {b:>11.1f} {b / d:>15.2f}")
first = lat[("bridged", "first")] / lat[("direct", "first")]
local = min(lat[("bridged", "again")], lat[("bridged", "mapping")])
estimate = local / lat[("direct", "first")]
print(f"   first read of each key after the fence, bridged/direct: {first:.2f} (target <= 1.0)")
if first > 1.0:
    remembers = lat[("bridged", "again")] < 0.5 * lat[("bridged", "first")]
    print("   ABOVE TARGET: a first get of a key goes through the bridge to the host, so it")
    print("   costs the host's round trip plus the bridge's hop" + (
          "; later gets of a key already read\n   this epoch are answered from memory ('again')."
          if remembers else ", and so does every later get\n   ('again' is no faster)."))
    print(f"   Served from what the fence collected (the bridge answering from memory, as its")
    print(f"   'again'/'mapping' gets do: {local:.1f} us) it would be {estimate:.2f} x direct.")
rows.append(("get after fence, first read, bridged/direct", f"{first:.2f}", "<= 1.0", verdict(first, 1.0)))
rows.append(("  same, served from memory (estimate)", f"{estimate:.2f}", "<= 1.0", verdict(estimate, 1.0)))

print()
print(f"3. bridge memory: {rss_runs} bridged {ranks}-rank hello jobs, each bridge sampled every "
      f"{float(interval) * 1000:g} ms until it exits")
recs = []
for path in glob.glob(os.path.join(work, "rss", "run*")):
    for line in open(path):
        recs.append({k: v for k, v in (f.split("=", 1) for f in line.split())})
mib = lambda kb: int(kb) / 1024
def col(key):
    return [mib(r[key]) for r in recs]
low = [r for r in recs if int(r["samples"]) < 3]
print(f"   {'per bridge':<32} {'max MiB':>8} {'mean MiB':>9} {'min MiB':>8}")
for label, key in (("peak RSS (VmHWM)", "hwm_kb"), ("RSS at last sample (VmRSS)", "rss_kb"),
                   ("Pss at last sample", "pss_kb"), ("private (clean+dirty) at last", "private_kb")):
    v = col(key)
    print(f"   {label:<32} {max(v):>8.2f} {st.mean(v):>9.2f} {min(v):>8.2f}")
hwm, priv = col("hwm_kb"), col("private_kb")
shared = [mib(r["rss_kb"]) - mib(r["private_kb"]) for r in recs]
print(f"   {len(recs)} bridges; of the last RSS, {st.mean(shared):.2f} MiB on average is shared pages "
      f"(binary text, libc, libstdc++), counted once per node")
if low:
    print(f"   note: {len(low)} bridges gave fewer than 3 samples")
rows.append(("bridge peak RSS (VmHWM), max over bridges", f"{max(hwm):.2f} MiB", "<= 4 MiB", verdict(max(hwm), 4)))
rows.append(("bridge private memory, max over bridges", f"{max(priv):.2f} MiB", "<= 4 MiB", verdict(max(priv), 4)))

print()
w = max(len(r[0]) for r in rows)
print(f"{'figure':<{w}}  {'value':>10}  {'target':>9}  verdict")
for name, value, target, v in rows:
    print(f"{name:<{w}}  {value:>10}  {target:>9}  {v}")
EOF
