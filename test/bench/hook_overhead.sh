#!/bin/bash
# What pmi-shim-hook costs a container start, and what containers cost a
# 4-rank MPI start, measured side by side in one run (design.md §7):
#
#   1. `runc run` of a trivial busybox container (/bin/true), three ways,
#      interleaved: no hooks; pmi-shim-hook registered as createRuntime +
#      poststop hook but the container not asking for pmi-shim (the common
#      case on a shared node: target <= 3 ms added); and the hook active
#      (PMI_SHIM_DIR in the env: it bind-mounts the rank dir and the tools).
#   2. A 4-rank MPICH hello: `mpiexec.hydra -n 4 pmi-bridge exec -- runc ...`
#      (one container per rank, hook active, private network namespaces)
#      vs bare `mpiexec.hydra -n 4 mpi_hello`, interleaved.
#
# Medians of ROUNDS (default 21) and MPI_ROUNDS (default 9) runs. Runs in a
# private network namespace of its own (re-executes itself under
# `unshare --net`). Needs root, runc, mpich; builds what it needs first.
#
#   bash test/bench/hook_overhead.sh
#   ROUNDS=51 bash test/bench/hook_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-21}"
MPI_ROUNDS="${MPI_ROUNDS:-9}"

if [ "${HOOK_BENCH_IN_NETNS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "hook_overhead.sh: needs root (runc and mounts); run it as root" >&2; exit 1; }
  # Build outside the namespace: the Bazel server must stay reachable. The
  # programs as installed (-c opt), else the default build; Bazel reports where.
  source tools/bazel_outputs.sh
  targets=(//hook:pmi-shim-hook //shim-client:pmi-shim-client //bridge/cli:pmi-bridge)
  mode=(-c opt)
  bazel build "${mode[@]}" "${targets[@]}" >/dev/null 2>&1 || { mode=(); bazel build "${targets[@]}"; }
  bazel build //test/programs:mpi_hello >/dev/null
  export HOOK HELLO CLIENT BRIDGE
  HOOK=$(bazel_output "${mode[@]}" //hook:pmi-shim-hook)
  CLIENT=$(bazel_output "${mode[@]}" //shim-client:pmi-shim-client)
  BRIDGE=$(bazel_output "${mode[@]}" //bridge/cli:pmi-bridge)
  HELLO=$(bazel_output //test/programs:mpi_hello)
  HOOK_BENCH_IN_NETNS=1 exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up

work="$(mktemp -d /tmp/hob.XXXXXX)"
cleanup() {
  for id in $(runc --root "$work/runc" list -q 2>/dev/null); do runc --root "$work/runc" delete -f "$id"; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# ---- image: busybox + mpi_hello with its libraries, merged-/usr layout ----
r="$work/rootfs"
mkdir -p "$r"/{usr/bin,usr/lib,usr/lib64,app,etc,dev,proc,sys,tmp,run/pmi-shim,opt/pmi-shim}
for l in bin lib lib64; do ln -s "usr/$l" "$r/$l"; done
cp /bin/busybox "$r/bin/"
for a in sh true echo cat; do ln -s busybox "$r/bin/$a"; done
cp "$HELLO" "$r/app/mpi_hello"
for lib in $(ldd "$HELLO" | grep -o '/[^ ]*'); do mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; done
mkdir -p "$work/tools/bin" "$work/pub" "$work/state"
cp "$CLIENT" "$work/tools/bin/"
cat > "$work/hook.json" <<EOF
{"allowed_dirs": ["$work/pub"], "tools_dir": "$work/tools", "state_dir": "$work/state", "log_file": ""}
EOF

# A rank directory as pmi-bridge publishes it, for the "active" case.
rank="$work/pub/rank0"
mkdir -p "$rank"
printf 'PMI_SHIM_PROTOCOL=pmi1\nPMI_RANK=0\nPMI_SIZE=1\n' > "$rank/env"
python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$rank/pmi.sock"

# config.json: MODE = plain | registered | active | mpi
bundle_config() {
  python3 - "$1" "$work" "$HOOK" "$CLIENT" <<'EOF'
import json, sys
mode, work, hook, client = sys.argv[1:5]
caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
env = ["PATH=/usr/bin:/bin"]
args = ["/bin/true"]
ns = ["pid", "network", "ipc", "uts", "mount"]
shm = {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
       "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}
if mode == "active":
    env.append("PMI_SHIM_DIR=" + work + "/pub/rank0")
if mode == "mpi":
    env.append("PMI_SHIM_DIR=@DIR@")
    args = ["/opt/pmi-shim/bin/pmi-shim-client", "exec", "--", "/app/mpi_hello"]
    ns = ["pid", "network", "uts", "mount"]  # MPICH shared memory: host IPC + /dev/shm
    shm = {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
           "options": ["rbind", "nosuid", "nodev"]}
c = {
  "ociVersion": "1.0.2-dev",
  "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args, "env": env,
              "cwd": "/", "noNewPrivileges": True,
              "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")}},
  "root": {"path": work + "/rootfs", "readonly": True},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    shm,
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}],
  "linux": {"namespaces": [{"type": t} for t in ns]},
}
if mode != "plain":
    h = lambda stage: {"path": hook, "args": ["pmi-shim-hook", "--config", work + "/hook.json", stage]}
    c["hooks"] = {"createRuntime": [h("createRuntime")], "poststop": [h("poststop")]}
print(json.dumps(c, indent=1))
EOF
}
for mode in plain registered active; do
  mkdir -p "$work/b-$mode"
  bundle_config "$mode" > "$work/b-$mode/config.json"
done
bundle_config mpi > "$work/mpi.config.in"
cat > "$work/rank.sh" <<EOF
#!/bin/sh
id=rank\$\$; b="$work/bundles/\$id"; mkdir -p "\$b"
sed "s#@DIR@#\$PMI_SHIM_DIR#" "$work/mpi.config.in" > "\$b/config.json"
runc --root "$work/runc" run --bundle "\$b" "\$id"; rc=\$?
rm -rf "\$b"; exit \$rc
EOF
chmod +x "$work/rank.sh"

now_us() { echo $(( $(date +%s%N) / 1000 )); }
# Appends one wall time (µs) of "$@" to file $1.
timed() {
  local out="$1"; shift
  local t0 t1
  t0=$(now_us)
  "$@" >/dev/null 2>"$work/last.err" || { echo "hook_overhead.sh: failed: $* : $(tail -3 "$work/last.err")" >&2; exit 1; }
  t1=$(now_us)
  echo $(( t1 - t0 )) >> "$out"
}
median() { sort -n "$1" | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }

# ---- 1. container start: interleaved ----
for i in $(seq "$ROUNDS"); do
  for mode in plain registered active; do
    timed "$work/t-$mode" runc --root "$work/runc" run --bundle "$work/b-$mode" "c-$mode-$i"
  done
done
[ -z "$(ls -A "$work/state")" ] || { echo "hook_overhead.sh: hook state left: $(ls "$work/state")" >&2; exit 1; }

# ---- 2. 4-rank MPI hello: containers + bridge + hook vs bare ----
for i in $(seq "$MPI_ROUNDS"); do
  timed "$work/t-mpi-bare" mpiexec.hydra -n 4 "$HELLO"
  timed "$work/t-mpi-ctr" mpiexec.hydra -n 4 "$BRIDGE" exec --publish-dir "$work/pub" -- "$work/rank.sh"
done

p=$(median "$work/t-plain"); g=$(median "$work/t-registered"); a=$(median "$work/t-active")
mb=$(median "$work/t-mpi-bare"); mc=$(median "$work/t-mpi-ctr")
echo "pmi-shim hook overhead (medians; $ROUNDS runc runs each, $MPI_ROUNDS MPI jobs each; interleaved; private netns)"
printf '  %-58s %8s ms\n' "runc run /bin/true, no hook" "$p"
awk -v p="$p" -v g="$g" 'BEGIN {printf "  %-58s %8.1f ms   ratio %.2f   added %+.1f ms (target <= 3 ms)\n", "runc run, hook registered, container not asking", g, g/p, g-p}'
awk -v p="$p" -v a="$a" 'BEGIN {printf "  %-58s %8.1f ms   ratio %.2f   added %+.1f ms\n", "runc run, hook active (PMI_SHIM_DIR: 2 bind mounts)", a, a/p, a-p}'
printf '  %-58s %8s ms\n' "mpiexec.hydra -n 4 mpi_hello (bare)" "$mb"
awk -v b="$mb" -v c="$mc" 'BEGIN {printf "  %-58s %8.1f ms   ratio %.2f   added %+.1f ms\n", "mpiexec.hydra -n 4 pmi-bridge exec -- runc (hook) mpi_hello", c, c/b, c-b}'
