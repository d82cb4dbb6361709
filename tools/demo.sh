#!/bin/bash
# pmi-shim's main job on a fresh machine: installs what is missing, builds,
# and runs a real MPICH program (MPI_Init, Allreduce, Allgather, Finalize)
# as a 4-rank job under `pmi-bridge launch`, the embedded PMI server, first
# over inherited PMI_FD sockets, then over PMI_PORT (TCP), inside a private
# network namespace. Prints each rank's result and a short summary.
#
#   bash tools/demo.sh [RANKS]
set -euo pipefail
cd "$(dirname "$0")/.."
ranks="${1:-4}"
bash tools/setup.sh
bazel build //bridge/cli:pmi-bridge //test/programs:mpi_collectives >/dev/null 2>&1 ||
  bazel build //bridge/cli:pmi-bridge //test/programs:mpi_collectives
bazel shutdown >/dev/null 2>&1 || true
bridge="$PWD/bazel-bin/bridge/cli/pmi-bridge"
program="$PWD/bazel-bin/test/programs/bin/mpi_collectives"
exec unshare --net -- bash -c '
  set -euo pipefail
  ip link set lo up
  bridge=$1 program=$2 ranks=$3
  for mode in "PMI_FD" "PMI_PORT"; do
    flags=(); [[ $mode == PMI_PORT ]] && flags=(--pmi-port)
    echo "== pmi-bridge launch -n $ranks ${flags[*]} -- mpi_collectives   ($mode)"
    start=$(date +%s%N)
    "$bridge" launch -n "$ranks" "${flags[@]}" -- "$program" | sort -V
    echo "-- $ranks ranks over $mode: exit 0 in $(( ($(date +%s%N) - start) / 1000000 )) ms"
  done
  echo "pmi-shim: MPICH ran as one ${ranks}-rank job with pmi-bridge as its PMI server (no mpiexec)."
' demo "$bridge" "$program" "$ranks"
