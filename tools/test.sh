#!/bin/bash
# Runs pmi-shim's whole test suite on this machine, from a fresh clone:
# installs what is missing (tools/setup.sh), then inside a private network
# namespace builds and runs every unit, golden and end-to-end test (with
# real MPICH, Open MPI, Slurm and mpiexec.hydra) plain and under ASan, the
# unit tests under UBSan, then each fuzzer for a bounded time. Ends with the line
# "N passed, N failed" and exits non-zero if anything failed.
#
#   bash tools/test.sh           # everything (about 35-40 min on 2 cores; each fuzzer 10 s)
#   bash tools/test.sh --quick   # plain build only, no sanitizers or fuzzing
#   FUZZ_SECONDS=60 bash tools/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
# The suite runs its own Bazel server inside the namespace; one started
# outside it could not be reached from there.
bazel shutdown >/dev/null 2>&1 || true
exec unshare --net -- bash tools/run_suite_in_netns.sh "$@"
