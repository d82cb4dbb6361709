#!/bin/bash
# The body of tools/test.sh, run inside a fresh network namespace where only
# loopback exists, so no test can send a byte off this machine.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
fuzz_seconds="${FUZZ_SECONDS:-10}"
ip link set lo up || { echo "0 passed, 1 failed"; exit 1; }
results=.test-results
rm -rf "$results" && mkdir -p "$results"
: > "$results/extra.txt"

passes=()  # NAME:EXIT:BEP for the summary: a pass that stopped early counts
run_bazel_tests() {  # NAME [bazel flags...]
  local name=$1 rc; shift
  echo "=== bazel test ($name) $(date +%T)"
  bazel test //... "$@" --build_event_json_file="$results/bep-$name.json"
  rc=$?
  passes+=("$name:$rc:$results/bep-$name.json")
}

# Style is part of the suite: every C/C++ file is clang-formatted.
if bash tools/check_format.sh; then echo "passed clang-format" >> "$results/extra.txt"
else echo "failed clang-format" >> "$results/extra.txt"; fi
run_bazel_tests plain
if ((!quick)); then
  # Tests that put the static pmi-shim-client into container images run in
  # the plain pass only: a sanitizer build of it is dynamic and finds no
  # libasan inside a busybox image.
  # --build_tests_only: the sanitizer passes compile what their tests need,
  # not every program and fuzzer again (keeps a fresh CI run near 25 min).
  run_bazel_tests asan --config=asan --build_tests_only --test_tag_filters=-static_client_in_image
  # UBSan on the unit tests (size small): the end-to-end suites already ran
  # plain and under ASan, and a third pass would double the suite's time.
  run_bazel_tests ubsan --config=ubsan --build_tests_only --test_size_filters=small
  echo "=== fuzzing, ${fuzz_seconds}s per target $(date +%T)"
  # Every fuzz target, built by clang in an output base of its own; writes
  # 'passed NAME' / 'failed NAME' (and 'failed fuzz-build') to extra.txt.
  bash tools/fuzz.sh --results "$results/fuzz" --report "$results/extra.txt" "$fuzz_seconds"
fi
# Under CI every peer and tool is installed, so a skipped test is a failure.
summary_flags=(--extra "$results/extra.txt")
[[ "${CI:-}" == true ]] && summary_flags+=(--skips-fail)
python3 tools/bazel_test_summary.py "${summary_flags[@]}" "${passes[@]}"
rc=$?
bazel shutdown >/dev/null 2>&1
exit $rc
