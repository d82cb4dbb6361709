#!/bin/bash
# Builds every fuzz target (cc_binary tagged `fuzz_target`, see
# tools/build/fuzz.bzl) with clang + libFuzzer and runs each in turn,
# from its seeds (tag `fuzz_corpus=DIR`) plus what earlier runs found.
# Prints one line per target with its executions, time and findings; exits
# non-zero when a target crashed, leaked, timed out or ran out of memory, or
# when the build failed.
#
#   tools/fuzz.sh [SECONDS]            # each target for SECONDS (default 60)
#   tools/fuzz.sh --runs 10000000      # each target for that many executions
#   tools/fuzz.sh 600 elf_reader_fuzz pmix_handshake_fuzz   # only these, in this order
#   tools/fuzz.sh --results DIR --report FILE 20   # tools/run_suite_in_netns.sh's short run
#
# --results DIR  where each target's corpus, log and crash inputs go
#                (default .fuzz-results); DIR/NAME/crash-* replays with
#                bazel-bin/.../NAME DIR/NAME/crash-*
# --report FILE  appends "passed NAME" / "failed NAME" lines (the suite's extra results)
# The clang build lives in an output base of its own, so the gcc build is not
# reconfigured by the switch of compiler: $PMI_SHIM_FUZZ_OUTPUT_BASE, by default
# ~/.cache/pmi-shim-fuzz-output-base; its server is shut down at the end.
# Run it inside a network namespace like every Bazel command here (the
# fuzzers themselves use no network).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=60 runs="" results=.fuzz-results report="" only=()
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) seconds=$1; shift ;;
    -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) only+=("$1"); shift ;;
  esac
done
[[ -n $runs ]] && seconds=0  # libFuzzer: 0 = no time limit
mkdir -p "$results" && results=$(cd "$results" && pwd)

record() {  # passed|failed NAME
  echo "$1 $2" >> "${report:-/dev/null}"
}

fuzz_bazel=(bazel --output_base="${PMI_SHIM_FUZZ_OUTPUT_BASE:-$HOME/.cache/pmi-shim-fuzz-output-base}")
trap '"${fuzz_bazel[@]}" shutdown >/dev/null 2>&1' EXIT

# Our own packages only: //... would also walk into the convenience links
# that the gcc output base left in the tree.
universe=$(for dir in */; do
  dir=${dir%/}
  [[ $dir == bazel-* || $dir == third_party ]] && continue
  [[ -n $(find "$dir" -name BUILD -print -quit) ]] || continue
  printf ' + //%s/...' "$dir"
done)
query_output=$("${fuzz_bazel[@]}" query --output=build \
  "attr(tags, '\\bfuzz_target\\b', kind(cc_binary, ${universe# + }))" 2>"$results/query.log")
# "PACKAGE/NAME CORPUS_DIR" per target, from the BUILD-like listing: a
# comment with the BUILD file's path, then name = and tags = lines.
mapfile -t targets < <(awk -v root="$PWD/" '
  /^# \/.*\/BUILD:[0-9]+:[0-9]+$/ { pkg = $2; sub(root, "", pkg); sub(/\/BUILD:.*/, "", pkg) }
  /^  name = / { name = $3; gsub(/[",]/, "", name) }
  /^  tags = / { if (match($0, /fuzz_corpus=[^"]*/)) print pkg "/" name, substr($0, RSTART + 12, RLENGTH - 12) }
' <<< "$query_output" | sort)
if ((${#only[@]})); then
  chosen=()
  for name in "${only[@]}"; do
    match=$(printf '%s\n' "${targets[@]}" | grep -E "^[^ ]*/$name " || true)
    [[ -n $match ]] || { echo "fuzz.sh: no fuzz target named $name" >&2; exit 2; }
    chosen+=("$match")
  done
  targets=("${chosen[@]}")
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz.sh: found no fuzz targets (see $results/query.log)" >&2
  record failed fuzz-build
  exit 1
fi

build_labels=()
for entry in "${targets[@]}"; do
  path=${entry%% *}
  build_labels+=("//${path%/*}:${path##*/}")
done
echo "=== fuzz.sh: building ${#build_labels[@]} targets $(date +%T)"
if ! "${fuzz_bazel[@]}" build --config=fuzz "${build_labels[@]}" > "$results/build.log" 2>&1; then
  tail -30 "$results/build.log"
  echo "fuzz.sh: the fuzz build failed (log: $results/build.log)" >&2
  record failed fuzz-build
  exit 1
fi
bin=$("${fuzz_bazel[@]}" info --config=fuzz bazel-bin 2>/dev/null)

limit="${runs:+$runs executions}"
echo "=== fuzz.sh: each target for ${limit:-${seconds}s} $(date +%T)"
failures=0
printf '%-22s %14s %8s %10s  %s\n' target executions seconds execs/s findings
for entry in "${targets[@]}"; do
  path=${entry%% *} seeds=${entry#* }
  name=${path##*/}
  work="$results/$name" && mkdir -p "$work/corpus"
  rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*
  start=$(date +%s%N)
  # -timeout: an input that takes 25 s is a finding (a hostile file that
  # costs that much is a denial of service), not a slow machine.
  "$bin/$path" -max_total_time="$seconds" ${runs:+-runs="$runs"} -timeout=25 \
      -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds" \
      > "$work/log" 2>&1
  status=$?
  elapsed=$((($(date +%s%N) - start) / 1000000000))
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
  findings=$(cd "$work" && ls crash-* leak-* timeout-* oom-* 2>/dev/null | tr '\n' ' ')
  if ((status == 0)) && [[ -z $findings && -n $executions ]]; then
    record passed "$name"
    printf '%-22s %14s %8d %10s  %s\n' "$name" "$executions" "$elapsed" "${rate:-?}" none
  else
    failures=$((failures + 1))
    record failed "$name"
    printf '%-22s %14s %8d %10s  %s\n' "$name" "${executions:-?}" "$elapsed" "${rate:-?}" \
      "exit $status ${findings:-(no artifact)}"
    grep -E '^==[0-9]+==|ERROR: libFuzzer|SUMMARY|invariant violated' "$work/log" | head -10
    echo "  log: $work/log"
  fi
done
((failures == 0))
