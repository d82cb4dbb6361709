#!/bin/bash
# The main job: a 4-rank MPICH program in 4 Podman containers, each with its
# own network namespace (--network none), under the real mpiexec.hydra,
# wired up through pmi-bridge exec, pmi-shim-hook and pmi-shim-client
# (design.md §5, flow 2). Prints each rank's result and what pmi-shim did.
#
#   bash tools/demo.sh            # installs, builds, runs; ends with a summary
#   bash tools/demo.sh --bare     # the launch-only demo: 4 ranks under pmi-bridge launch
#
# Runs as root on a fresh Debian 12 machine. Everything happens inside a
# private network namespace (only loopback) and a scratch directory that is
# removed at the end; Podman keeps its state there too, so the machine's own
# containers and images are not touched.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" != --inside ]]; then
  bash tools/setup.sh
  targets=(//bridge/cli:pmi-bridge //hook:pmi-shim-hook //shim-client:pmi-shim-client
           //test/programs:mpi_collectives)
  bazel build "${targets[@]}"
  # Bazel says where its outputs are (never a hard-coded bazel-out path); the
  # paths are looked up here, where the Bazel server is reachable.
  source tools/bazel_outputs.sh
  export DEMO_BRIDGE DEMO_HOOK DEMO_CLIENT DEMO_APP
  DEMO_BRIDGE=$(bazel_output //bridge/cli:pmi-bridge)
  DEMO_HOOK=$(bazel_output //hook:pmi-shim-hook)
  DEMO_CLIENT=$(bazel_output //shim-client:pmi-shim-client)
  DEMO_APP=$(bazel_output //test/programs:mpi_collectives)
  exec unshare --net --mount --propagation private bash "$0" --inside "$@"
fi
shift
ip link set lo up

app="$DEMO_APP"
ranks=4

if [[ "${1:-}" == --bare ]]; then
  echo "== pmi-bridge launch -n $ranks -- mpi_collectives (no containers)"
  exec "$DEMO_BRIDGE" launch -n "$ranks" -- "$app"
fi

work=$(mktemp -d /tmp/pmi-shim-demo.XXXXXX)
# What was there before this job (other jobs' rank directories and hook
# records): only what the job adds and leaves is counted as left behind.
ls -A /run/pmi-shim 2>/dev/null | sort >"$work/rundirs.before"
ls -A /run/pmi-shim-hook 2>/dev/null | sort >"$work/records.before"
podman=(podman --root "$work/podman/root" --runroot "$work/podman/runroot"
        --tmpdir "$work/podman/tmp" --storage-driver vfs --cgroup-manager cgroupfs
        --runtime /usr/bin/runc --hooks-dir "$work/hooks.d")
cleanup() {
  "${podman[@]}" rm -af >/dev/null 2>&1 || true
  "${podman[@]}" rmi -af >/dev/null 2>&1 || true
  "${podman[@]}" system reset -f >/dev/null 2>&1 || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== installing pmi-shim under $work/prefix (hook registered in $work/hooks.d)"
bash deploy/install.sh --prefix "$work/prefix" \
  --bridge "$DEMO_BRIDGE" --hook "$DEMO_HOOK" --client "$DEMO_CLIENT" --hooks-dir "$work/hooks.d" \
  --config "$work/prefix/etc/pmi-shim/hook.json" | sed 's/^/   /'
# The hook's JSON-lines log, for the summary below.
sed -i "s|\"log_file\": \"\"|\"log_file\": \"$work/hook.log\"|" "$work/prefix/etc/pmi-shim/hook.json"

echo "== building a busybox image holding only mpi_collectives and its libraries"
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,app,tmp,dev,proc,sys,etc,run,opt/pmi-shim}
cp /bin/busybox "$rootfs/bin/" && ln -s busybox "$rootfs/bin/sh"
cp "$app" "$rootfs/app/"
# The program's libraries, and UCX's transport plugins (loaded with dlopen).
for file in "$app" /usr/lib/x86_64-linux-gnu/ucx/*.so*; do
  [[ -e "$file" && "$file" != "$app" ]] && mkdir -p "$rootfs$(dirname "$file")" && cp -L "$file" "$rootfs$file"
  ldd "$file" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")" && cp -L "$lib" "$rootfs$lib"
done
tar -C "$rootfs" -c . | "${podman[@]}" import -q - pmi-shim-demo >/dev/null
echo "   image pmi-shim-demo: $(du -sh "$rootfs" | cut -f1), no MPI launcher and no PMI server inside"

run_flags=(run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
           # MPICH's shared-memory transport between ranks of different containers
           --ipc host -v /dev/shm:/dev/shm)
container_cmd=(/opt/pmi-shim/bin/pmi-shim-client exec -- /app/mpi_collectives)

echo "== bare reference: mpiexec.hydra -n $ranks mpi_collectives (no containers)"
start=$(date +%s%N)
mpiexec.hydra -n "$ranks" "$app" | sort | sed 's/^/   /'
bare_ms=$(( ($(date +%s%N) - start) / 1000000 ))

echo "== mpiexec.hydra -n $ranks pmi-bridge exec -- podman run --network none ... pmi-shim-demo"
start=$(date +%s%N)
set +e
mpiexec.hydra -n "$ranks" "$work/prefix/bin/pmi-bridge" exec -- \
  "${podman[@]}" "${run_flags[@]}" pmi-shim-demo "${container_cmd[@]}" > "$work/out.txt"
status=$?
set -e
demo_ms=$(( ($(date +%s%N) - start) / 1000000 ))
sort "$work/out.txt" | sed 's/^/   /'

ok=0
for ((rank = 0; rank < ranks; rank++)); do
  grep -qx "rank $rank of $ranks: allreduce=10 allgather=ok" "$work/out.txt" && ok=$((ok + 1))
done
applied=$(grep -c ': applied ' "$work/hook.log" 2>/dev/null || true)
records=$(ls -A /run/pmi-shim-hook 2>/dev/null | sort | comm -13 "$work/records.before" - | wc -l)
left=$(ls -A /run/pmi-shim 2>/dev/null | sort | comm -13 "$work/rundirs.before" - | wc -l)
containers=$("${podman[@]}" ps -aq | wc -l)

echo "== what pmi-shim did"
echo "   pmi-bridge exec    took each rank's PMI_FD from hydra, published a rank socket + env file"
echo "                      under /run/pmi-shim, added --env PMI_SHIM_DIR to 'podman run'"
echo "   pmi-shim-hook      createRuntime: mounted the rank directory at /run/pmi-shim and the tools at"
echo "                      /opt/pmi-shim (read-only, nosuid, nodev) in ${applied:-0} containers; poststop: undid it"
echo "   pmi-shim-client    connected /run/pmi-shim/pmi.sock and gave MPICH PMI_FD, PMI_RANK, PMI_SIZE"
echo "   result             $ok of $ranks ranks correct (exit status $status); ${demo_ms} ms in containers vs ${bare_ms} ms bare"
echo "   left behind        $left rank directories, $records hook records, $containers containers"
[[ $status -eq 0 && $ok -eq $ranks && $left -eq 0 && $records -eq 0 && $containers -eq 0 ]]
