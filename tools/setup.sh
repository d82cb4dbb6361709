#!/bin/bash
# Installs what pmi-shim needs to build and test, from Debian's archive.
# Idempotent: when every package is already installed it makes no apt call.
#   tools/setup.sh            build + test dependencies (the default)
#
# It also installs the lab of real older and newer PMIx / Open MPI / Flux
# releases from ../shared/peers (PMI_SHIM_PEERS_DIR overrides) into
# /opt/pmi-shim-peers; that installer is idempotent too. Under CI=true a
# missing lab is an error: the tests that use it would otherwise not run.
set -euo pipefail
PKGS=(
  bazel-bootstrap                       # Bazel 4.2.3 (pulls OpenJDK 17)
  g++ clang libclang-rt-14-dev          # gcc builds; clang + libFuzzer for fuzz targets
  clang-format                          # tools/check_format.sh
  python3 pkg-config iproute2 util-linux
  bc zstd                               # bc: Slurm test timings; zstd: the peers lab
  gdb                                   # stacks of stalled multi-node jobs (cluster-ns.sh)
  libabsl-dev nlohmann-json3-dev libboost-program-options-dev libseccomp-dev
  libgtest-dev libgmock-dev
  libpmix-dev                           # PMIx 4.2 client and server API
  mpich libmpich-dev                    # real PMI-1 clients and mpiexec.hydra
  libpmi2-0-dev                         # Slurm's PMI-2 client library
  openmpi-bin libopenmpi-dev            # mpirun.openmpi (PMIx host) and Open MPI apps
  slurmctld slurmd slurm-client         # a private single-node Slurm for tests
  runc podman docker.io                 # OCI engines for the hook's end-to-end tests
  charliecloud busybox-static           # bind-mount engine; busybox for test images
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -o DPkg::Lock::Timeout=900
  apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=900 "${missing[@]}"
fi

here="$(cd "$(dirname "$0")/.." && pwd)"
peers_dir="${PMI_SHIM_PEERS_DIR:-$here/../shared/peers}"
if [[ -x "$peers_dir/install.sh" || -f "$peers_dir/install.sh" ]]; then
  bash "$peers_dir/install.sh" | sed 's/^/setup: peers: /'
elif [[ "${CI:-}" == true ]]; then
  echo "setup: the peers lab is missing ($peers_dir/install.sh); set PMI_SHIM_PEERS_DIR to the shared/peers directory" >&2
  exit 1
else
  echo "setup: no peers lab at $peers_dir (tests of other releases will fail; set PMI_SHIM_PEERS_DIR)" >&2
fi
