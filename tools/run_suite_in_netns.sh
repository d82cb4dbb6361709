#!/bin/bash
# The body of tools/test.sh, run inside a fresh network namespace where only
# loopback exists, so no test can send a byte off this machine.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
fuzz_seconds="${FUZZ_SECONDS:-20}"
ip link set lo up || { echo "0 passed, 1 failed"; exit 1; }
results=.test-results
rm -rf "$results" && mkdir -p "$results"
: > "$results/extra.txt"

run_bazel_tests() {  # NAME [bazel flags...]
  local name=$1; shift
  echo "=== bazel test ($name)"
  bazel test //... "$@" --build_event_json_file="$results/bep-$name.json"
}

run_bazel_tests plain
if ((!quick)); then
  run_bazel_tests asan --config=asan
  run_bazel_tests ubsan --config=ubsan
  echo "=== fuzzing, ${fuzz_seconds}s per target"
  if bazel build --config=fuzz //bridge/wire/fuzz:all; then
    for target in pmi1_fuzz pmi2_fuzz frame_decoder_fuzz; do
      corpus_seed="bridge/wire/fuzz/corpus/${target%_fuzz}"
      [[ -d "$corpus_seed" ]] || corpus_seed="bridge/wire/fuzz/corpus/frames"
      work="$results/corpus-$target" && mkdir -p "$work"
      if "bazel-bin/bridge/wire/fuzz/$target" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
          "$work" "$corpus_seed" > "$results/$target.log" 2>&1; then
        echo "passed $target" >> "$results/extra.txt"
        grep -E 'stat::number_of_executed_units' "$results/$target.log" | sed "s/^/$target: /"
      else
        echo "failed $target" >> "$results/extra.txt"
        tail -30 "$results/$target.log"
      fi
    done
  else
    echo "failed fuzz-build" >> "$results/extra.txt"
  fi
fi
python3 tools/bazel_test_summary.py --extra "$results/extra.txt" "$results"/bep-*.json
rc=$?
bazel shutdown >/dev/null 2>&1
exit $rc
