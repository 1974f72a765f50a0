#!/usr/bin/env bash
# A single-node Slurm cluster for mrsm's tests, in a directory of its own.
#
#   cluster.sh install          apt-get install slurm-wlm munge when they are missing
#   cluster.sh start DIR [PID]  write DIR/slurm.conf, start munged, slurmctld and
#                               slurmd on free loopback ports, wait until the node is
#                               idle; with PID, stop them and remove DIR when that
#                               process ends
#   cluster.sh stop DIR         stop what `start DIR` started
#
# Slurm's commands find this cluster with SLURM_CONF=DIR/slurm.conf. Each job's
# epilog sleeps EPILOG_SECONDS (default 0.3): like a real cluster's, it keeps a job
# COMPLETING for a while after its last process has ended (0 for none). KILL_WAIT
# is the cluster's KillWait in seconds (default 2; Slurm's own default is 30).
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }

install() {
    if need slurmctld && need slurmd && need srun && need munged; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "cluster.sh: Slurm is missing and installing it needs root" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
}

# A TCP port nothing on 127.0.0.1 listens on.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop() {
    local dir=$1
    for daemon in slurmd slurmctld munged; do
        local pidfile="$dir/$daemon.pid"
        [ -f "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile" 2>/dev/null || true)
        [ -n "$pid" ] || continue
        # Only the daemon this cluster started (its command line names this dir's files).
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir"; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
    # Step daemons of jobs still running on the node.
    for pidfile in "$dir"/spool/*.pid; do
        [ -f "$pidfile" ] || continue
        kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
    done
}

start() {
    local dir watch
    dir=$(realpath -m "$1")
    watch=${2:-}
    install
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
    chmod 0700 "$dir/munge"
    if [ ! -f "$dir/munge/munge.key" ]; then
        head -c 1024 /dev/urandom >"$dir/munge/munge.key"
        chmod 0400 "$dir/munge/munge.key"
    fi
    local ctl_port node_port cpus mem
    ctl_port=$(free_port)
    node_port=$(free_port)
    cpus=$(nproc)
    printf '#!/bin/sh\nsleep %s\n' "${EPILOG_SECONDS:-0.3}" >"$dir/epilog.sh"
    chmod 0755 "$dir/epilog.sh"
    mem=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)
    cat >"$dir/slurm.conf" <<CONF
ClusterName=mrsmtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$node_port
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=600
KillWait=${KILL_WAIT:-2}
Epilog=$dir/epilog.sh
InactiveLimit=0
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=mrsmnode NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=mrsmnode Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF
    export SLURM_CONF="$dir/slurm.conf"
    munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
        --seed-file="$dir/munge/munge.seed"
    slurmctld -i -f "$dir/slurm.conf"
    slurmd -N mrsmnode -f "$dir/slurm.conf"
    local state=""
    for _ in $(seq 1 300); do
        state=$(sinfo -h -n mrsmnode -o %T 2>/dev/null || true)
        case "$state" in
            idle*) break ;;
        esac
        sleep 0.1
    done
    case "$state" in
        idle*) ;;
        *)
            echo "cluster.sh: the node did not become idle (state: ${state:-none}); logs in $dir" >&2
            stop "$dir"
            return 1
            ;;
    esac
    if [ -n "$watch" ]; then
        # Stops the cluster once the process that asked for it has ended.
        (
            exec </dev/null >/dev/null 2>&1
            while kill -0 "$watch" 2>/dev/null; do sleep 0.5; done
            "$0" stop "$dir"
            rm -rf "$dir"
        ) &
        disown
    fi
    echo "$dir/slurm.conf"
}

case "${1:-}" in
    install) install ;;
    start) start "${2:?DIR}" "${3:-}" ;;
    stop) stop "$(realpath -m "${2:?DIR}")" ;;
    *) echo "usage: cluster.sh install | start DIR [PID] | stop DIR" >&2; exit 2 ;;
esac
