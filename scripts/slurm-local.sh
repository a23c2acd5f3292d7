#!/bin/bash
# slurm-local.sh — a throwaway single-node Slurm cluster on this machine, for the
# tests and for trying `tlc run --executor slurm` without a cluster.
#
#   scripts/slurm-local.sh up DIR     write DIR/slurm.conf, start munged, slurmctld, slurmd
#   scripts/slurm-local.sh down DIR   stop the daemons started by `up DIR`
#
# Needs root and Debian's slurm-wlm and munge (`make deps` installs them). The
# clients find the cluster through SLURM_CONF=DIR/slurm.conf (printed by `up`).
# Everything (state, spool, logs, pid files, munge socket) lives under DIR, so
# two clusters never share state and `down` leaves nothing running. Accounting:
# no slurmdbd — job completions go to a text file (JobCompType=jobcomp/filetxt)
# that `sacct --completion` reads.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)

running() {        # running PID: the process exists and is not a zombie waiting to be reaped
    local state
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != Z ]
}

stop_pidfile() {   # stop_pidfile FILE: TERM, then KILL after 5 s, and wait until it is gone
    local f=$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
        if running "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            # Gone a moment later, longer on a busy machine.
            for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
        fi
    fi
    rm -f "$f"
}

# Starts a daemon with no descriptor of ours: stdin/out/err on /dev/null (they log to
# files) and everything above 2 closed, so a caller waiting for our pipes or for
# our exit (Foundation's Process does both) never waits for the daemons too.
start_daemon() {
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
        done
        exec "$@" </dev/null >/dev/null 2>&1
    )
}

case $cmd in
up)
    command -v slurmctld >/dev/null && command -v munged >/dev/null || {
        echo "slurm-local: slurmctld or munged is missing; install them: apt-get install -y slurm-wlm munge" >&2; exit 3; }
    node=$(hostname -s); cpus=$(nproc)
    mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 / 2 }' /proc/meminfo)   # half the RAM, in MB
    mkdir -p "$dir"/{state,spool,log,munge,jobs}
    chmod 700 "$dir/munge"
    # munge: a private key and socket, so a system munged (if any) is left alone.
    [ -f "$dir/munge/munge.key" ] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
    start_daemon munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
    cat > "$dir/slurm.conf" <<CONF
# Single-node Slurm for tlc's tests, written by scripts/slurm-local.sh.
ClusterName=tlc-local
SlurmctldHost=$node(localhost)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmctldPort=${SLURM_LOCAL_PORT:-16817}
SlurmdPort=$(( ${SLURM_LOCAL_PORT:-16817} + 1 ))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=100000
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
NodeName=$node NodeAddr=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=tlc Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    export SLURM_CONF=$dir/slurm.conf
    start_daemon slurmctld -f "$dir/slurm.conf"
    start_daemon slurmd -f "$dir/slurm.conf"
    # Wait until the node takes jobs.
    for _ in $(seq 100); do
        state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
        case $state in idle|mix|alloc) echo "SLURM_CONF=$dir/slurm.conf"; exit 0;; esac
        sleep 0.2
    done
    echo "slurm-local: the node did not come up (state '${state:-?}'); see $dir/log/" >&2
    exit 1
    ;;
down)
    stop_pidfile "$dir/slurmd.pid"
    stop_pidfile "$dir/slurmctld.pid"
    stop_pidfile "$dir/munge/munged.pid"
    ;;
*) echo "usage: $0 up|down DIR" >&2; exit 2;;
esac
