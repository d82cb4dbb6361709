#!/bin/bash
# slurm-ns.sh WORKDIR CPUS CMD [ARGS...]
#
# Runs CMD next to a private single-node Slurm 22.05 (slurmctld + slurmd,
# auth/none, no munge, no cgroups) and exits with CMD's status. Used by
# test/testing/slurm_cluster.cc; see /work/shared/reference/slurm.md for the
# facts behind every line.
#
# It must already run inside fresh namespaces, started exactly like this:
#   unshare --net --mount --uts --pid --fork --kill-child --mount-proc -- \
#       bash slurm-ns.sh WORKDIR CPUS CMD...
# and it refuses to start anything otherwise: Slurm clients with no usable
# configuration look their controller up over DNS, so no Slurm command may
# ever run outside a network namespace that has nothing but loopback, or
# without SLURM_CONF naming our own file. The pid namespace (and
# --kill-child) make every daemon and task die with this script.
#
# WORKDIR (an empty directory the caller made; keep the path short, Slurm puts
# Unix sockets in it) receives slurm.conf, the state and spool directories,
# the daemons' logs and two files for the caller:
#   timings    "ready=SECONDS" (start -> node idle), written before CMD
#              starts, then "stop=SECONDS" (CMD end -> daemons gone)
#   leftovers  processes still alive in the namespace after the daemons
#              stopped (should be empty), one "PID CMDLINE" per line
set -uo pipefail

die() {
  echo "slurm-ns: $*" >&2
  exit 125
}

[ $# -ge 3 ] || die "usage: slurm-ns.sh WORKDIR CPUS CMD [ARGS...]"
W=$1
CPUS=$2
shift 2

# --- Guards: only ever inside the private namespaces -------------------------
[ "$$" = 1 ] || die "not pid 1 of a new pid namespace; run through" \
  "'unshare --net --mount --uts --pid --fork --kill-child --mount-proc'"
links=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | tr '\n' ' ')
[ "$links" = "lo " ] || die "the network namespace has interfaces other than lo ($links); refusing to start Slurm"
case "$W" in
  /*) ;;
  *) die "WORKDIR must be an absolute path, got '$W'" ;;
esac
[ -d "$W" ] || die "WORKDIR $W does not exist"
[ -z "$(ls -A "$W")" ] || die "WORKDIR $W is not empty"
# slurmctld and slurmd call setgroups(); a user namespace that denies it
# (Bazel's linux-sandbox) makes them exit at once.
if [ "$(cat /proc/self/setgroups 2>/dev/null)" = deny ]; then
  die "setgroups is denied in this user namespace (a sandbox?); slurmctld cannot start"
fi
for bin in slurmctld slurmd sinfo srun; do
  command -v "$bin" >/dev/null || die "$bin not found (install slurmctld slurmd slurm-client)"
done

now() { date +%s.%N; }
t_start=$(now)

# --- Network, name, private /etc/hosts and resolv.conf -----------------------
ip link set lo up || die "cannot bring lo up"
# Slurm resolves its listen address with AI_ADDRCONFIG; glibc does not count
# 127.0.0.1 itself as configured, so a second loopback address is needed.
ip addr add 127.0.0.2/8 dev lo || die "cannot add 127.0.0.2 to lo"
hostname slurmnode || die "cannot set the hostname"
mkdir -p "$W/state" "$W/spool" "$W/etc" "$W/tmp"
printf '127.0.0.1 localhost slurmnode\n::1 localhost\n' >"$W/etc/hosts"
: >"$W/etc/resolv.conf"
mount --bind "$W/etc/hosts" /etc/hosts || die "cannot bind-mount /etc/hosts"
mount --bind "$W/etc/resolv.conf" /etc/resolv.conf || die "cannot bind-mount /etc/resolv.conf"

# --- Configuration: set SLURM_CONF before any Slurm command runs ------------
cat >"$W/slurm.conf" <<CONF
ClusterName=pmishim
SlurmctldHost=slurmnode(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
TmpFS=$W/tmp
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
PropagateResourceLimits=NONE
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=2
NodeName=slurmnode NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=slurmnode Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$W/slurm.conf

# --- Daemons -------------------------------------------------------------------
slurmctld -D -i >"$W/slurmctld.out" 2>&1 &
ctld=$!
slurmd -D -N slurmnode >"$W/slurmd.out" 2>&1 &
slurmd_pid=$!

# Stops both daemons, each by pid: SIGTERM, then SIGKILL after 5 s.
stop_daemons() {
  # srun can return before the step's slurmstepd has reported the step's end
  # to slurmctld; stopping slurmctld first leaves that slurmstepd retrying
  # (and slurmd waiting for it). Give running steps a moment to finish.
  wait_for_steps || echo "slurm-ns: a job step (slurmstepd) still runs after 10 s; stopping anyway" >&2
  stop_pid "$slurmd_pid"
  stop_pid "$ctld"
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 1 250); do
    running "$1" || break
    sleep 0.02
  done
  running "$1" && kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}

# True once no slurmstepd is left (polls for up to 10 s).
wait_for_steps() {
  local dir stat comm busy
  for _ in $(seq 1 500); do
    busy=
    for dir in /proc/[0-9]*; do
      read -r stat <"$dir/stat" 2>/dev/null || continue
      comm=${stat#*(}
      comm=${comm%%)*}
      [ "$comm" = slurmstepd ] || continue
      stat=${stat##*) }
      [ "${stat%% *}" = Z ] && continue
      busy=1
      break
    done
    [ -z "$busy" ] && return 0
    sleep 0.02
  done
  return 1
}

# True while PID runs (a dead daemon stays a zombie until this shell reaps it).
running() {
  local stat
  read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
daemons_running() { running "$ctld" && running "$slurmd_pid"; }

# Wait for both listen ports first: a Slurm client that finds no listener
# sleeps a whole second before its retry.
for port in 6817 6818; do
  for _ in $(seq 1 500); do
    daemons_running || break
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.02
  done
done
state=
for _ in $(seq 1 300); do
  daemons_running || break
  state=$(sinfo -h -n slurmnode -o %T 2>/dev/null)
  [ "$state" = idle ] && break
  sleep 0.05
done
t_ready=$(now)
if [ "$state" != idle ]; then
  daemons_running || echo "slurm-ns: a daemon exited during start-up" >&2
  echo "slurm-ns: node state '${state:-none}' after $(echo "$t_ready - $t_start" | bc) s, not idle" >&2
  tail -n 20 "$W/slurmctld.log" "$W/slurmd.log" "$W/slurmctld.out" "$W/slurmd.out" >&2 2>/dev/null
  stop_daemons
  exit 125
fi

echo "ready=$(echo "$t_ready - $t_start" | bc)" >"$W/timings"

# --- The command -------------------------------------------------------------
rc=0
"$@" || rc=$?
t_cmd_end=$(now)

# --- Stop, and list whatever is still alive in the namespace ------------------
stop_daemons
t_stopped=$(now)
: >"$W/leftovers"
# Shell builtins only (no child process of this scan can show up in it).
for dir in /proc/[0-9]*; do
  pid=${dir#/proc/}
  [ "$pid" = 1 ] && continue
  read -r stat <"$dir/stat" 2>/dev/null || continue
  rest=${stat##*) }
  # Zombies have exited already (and only this shell, pid 1, reaps them).
  [ "${rest%% *}" = Z ] && continue
  mapfile -d '' -t argv <"$dir/cmdline" 2>/dev/null || continue
  echo "$pid ${argv[*]}" >>"$W/leftovers"
done
echo "stop=$(echo "$t_stopped - $t_cmd_end" | bc)" >>"$W/timings"
exit "$rc"
