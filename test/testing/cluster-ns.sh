#!/bin/bash
# cluster-ns.sh WORKDIR NODES CMD [ARGS...]
#
# A simulated cluster of NODES nodes on this machine, for end-to-end tests of
# jobs that span nodes. Runs CMD on node1 (the head node, where a launcher
# runs) and exits with its status. Used by test/testing/simulated_cluster.cc.
#
# Each node is a set of namespaces held by a small holder process:
#   - its own network namespace with lo and eth0 = 10.77.0.N/24, all nodes'
#     eth0 plugged into one Linux bridge (the "switch") in the cluster's own
#     network namespace, so nothing ever leaves the machine;
#   - its own UTS namespace (hostname nodeN), IPC namespace and /dev/shm, so
#     shared memory works within a node and never between nodes;
#   - its own mount namespace, where /etc/hosts names every node and
#     /run/pmi-shim is a node-local tmpfs (rank directories are per node, as
#     on a real cluster); TMPDIR is WORKDIR/nodeN/tmp.
# Launchers reach nodes the way they do on a real cluster, through an ssh
# stand-in: WORKDIR/rsh HOST CMD... enters HOST's namespaces and runs CMD
# there with sh -c (hydra: -launcher ssh -launcher-exec WORKDIR/rsh; Open
# MPI: --mca plm_rsh_agent WORKDIR/rsh; PRRTE: --prtemca plm_ssh_agent).
#
# It must already run as pid 1 of fresh namespaces, started exactly like this:
#   unshare --net --mount --uts --ipc --pid --fork --kill-child --mount-proc -- \
#       bash cluster-ns.sh WORKDIR NODES CMD...
# so that every process of every node dies with this script, whatever happens.
#
# WORKDIR (an empty directory the caller made) receives:
#   nodes      "NAME ADDRESS HOLDER_PID" per node
#   hosts      the /etc/hosts every node sees
#   rsh        the ssh stand-in
#   nodeN/     each node's TMPDIR (nodeN/tmp)
#   leftovers  processes still alive on any node after CMD ended, one
#              "PID NODE CMDLINE" per line (should be empty)
#   stacks     with CLUSTER_STALL_SECONDS=S and CLUSTER_STACKS_OF=REGEX: when
#              CMD is still running after S seconds, the gdb backtraces of
#              every process whose command line matches REGEX, then CMD is
#              killed (exit 124). A stalled job's state, for the test to
#              tell a known peer bug from a pmi-shim failure.
set -uo pipefail

die() {
  echo "cluster-ns: $*" >&2
  exit 125
}

[ $# -ge 3 ] || die "usage: cluster-ns.sh WORKDIR NODES CMD [ARGS...]"
W=$1
NODES=$2
shift 2
[ "$$" = 1 ] || die "not pid 1 of a new pid namespace; run through" \
  "'unshare --net --mount --uts --ipc --pid --fork --kill-child --mount-proc'"
links=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | tr '\n' ' ')
[ "$links" = "lo " ] || die "the network namespace has interfaces other than lo ($links); refusing"
case "$W" in /*) ;; *) die "WORKDIR must be an absolute path, got '$W'" ;; esac
[ -d "$W" ] && [ -z "$(ls -A "$W")" ] || die "WORKDIR $W must be an existing empty directory"
[[ "$NODES" =~ ^[1-9][0-9]?$ ]] && [ "$NODES" -le 64 ] || die "NODES must be 1..64, got '$NODES'"
for bin in ip nsenter unshare hostname mount; do
  command -v "$bin" >/dev/null || die "$bin not found"
done

mount --make-rprivate / || die "cannot make mounts private"
ip link set lo up
ip link add br0 type bridge || die "cannot create the cluster's bridge (kernel module bridge?)"
ip link set br0 up

{
  echo "127.0.0.1 localhost"
  for ((n = 1; n <= NODES; n++)); do echo "10.77.0.$n node$n"; done
} >"$W/hosts"

: >"$W/nodes"
for ((n = 1; n <= NODES; n++)); do
  node=node$n
  mkdir -p "$W/$node/tmp"
  chmod 1777 "$W/$node/tmp"
  # The holder: enters its new namespaces, sets the node up from inside, then
  # waits (it is what keeps the namespaces alive).
  unshare --net --uts --ipc --mount --propagation private -- bash -c '
    hostname "$1"
    mount -t tmpfs -o mode=1777,size=1g tmpfs /dev/shm
    mount --bind "$2/hosts" /etc/hosts
    mkdir -p /run/pmi-shim && mount -t tmpfs -o mode=0755 tmpfs /run/pmi-shim
    ip link set lo up
    touch "$2/$1/ready"
    exec sleep infinity' holder "$node" "$W" &
  holder=$!
  for ((i = 0; i < 500; i++)); do [ -e "$W/$node/ready" ] && break; sleep 0.01; done
  [ -e "$W/$node/ready" ] || die "$node did not come up"
  ip link add "v$node" type veth peer name eth0 netns "$holder" || die "cannot plug $node in"
  ip link set "v$node" master br0 up
  nsenter -t "$holder" -n -- ip addr add "10.77.0.$n/24" dev eth0
  nsenter -t "$holder" -n -- ip link set eth0 up
  echo "$node 10.77.0.$n $holder" >>"$W/nodes"
done

# The ssh stand-in. Skips ssh-style options (hydra and Open MPI may pass some),
# then joins the rest into one shell command, as sshd does.
cat >"$W/rsh" <<EOF
#!/bin/bash
while [ \$# -gt 0 ]; do
  case "\$1" in
    -l|-p|-o|-i|-F|-E|-J) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
host=\${1:?usage: rsh HOST CMD...}; shift
host=\${host#*@}
read -r _ _ pid < <(awk -v h="\$host" '\$1 == h || \$2 == h' "$W/nodes")
[ -n "\$pid" ] || { echo "rsh: \$host: no such node in this cluster" >&2; exit 255; }
node=\$(awk -v h="\$host" '\$1 == h || \$2 == h {print \$1}' "$W/nodes")
export TMPDIR="$W/\$node/tmp"
exec nsenter -t "\$pid" -n -u -i -m -- /bin/sh -c "cd / 2>/dev/null; \$*"
EOF
chmod 0755 "$W/rsh"

head_pid=$(awk 'NR == 1 {print $3}' "$W/nodes")
export TMPDIR="$W/node1/tmp" PMI_SHIM_CLUSTER_DIR="$W" PMI_SHIM_CLUSTER_RSH="$W/rsh"
export PMI_SHIM_CLUSTER_HOSTS
PMI_SHIM_CLUSTER_HOSTS=$(awk '{print $1}' "$W/nodes" | paste -sd, -)
nsenter -t "$head_pid" -n -u -i -m -- "$@" &
command_pid=$!
if [[ -n "${CLUSTER_STALL_SECONDS:-}" && -n "${CLUSTER_STACKS_OF:-}" ]]; then
  (
    sleep "$CLUSTER_STALL_SECONDS"
    kill -0 "$command_pid" 2>/dev/null || exit 0
    for pid in $(pgrep -f -- "$CLUSTER_STACKS_OF"); do
      [ "$pid" = "$command_pid" ] && continue
      grep -q "$CLUSTER_STACKS_OF" <(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
      echo "=== pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
      timeout 20 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>/dev/null | grep -E '^#|^Thread'
    done >"$W/stacks"
    touch "$W/stalled"
    kill -KILL "$command_pid" 2>/dev/null
  ) &
  watchdog=$!
fi
wait "$command_pid"
status=$?
[ -e "$W/stalled" ] && status=124
[ -n "${watchdog:-}" ] && kill "$watchdog" 2>/dev/null

# What is still running on a node (other than its holder) was left behind.
: >"$W/leftovers"
for pid in $(ls /proc | grep -E '^[0-9]+$'); do
  [ "$pid" = 1 ] || [ "$pid" = "$$" ] && continue
  grep -qw "$pid" <(awk '{print $3}' "$W/nodes") && continue
  cmd=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || continue
  [ -n "$cmd" ] || continue
  uts=$(readlink "/proc/$pid/ns/uts" 2>/dev/null) || continue
  node=$(awk -v u="$uts" '{ if (("readlink /proc/" $3 "/ns/uts" | getline x) > 0 && x == u) print $1 }' "$W/nodes")
  [ -n "$node" ] && echo "$pid $node $cmd" >>"$W/leftovers"
done
exit "$status"
