#!/usr/bin/env bash
# Start a single-node Slurm cluster on this machine, for the tests of `run --executor slurm`.
#
# Installs Debian's munge, slurmctld, slurmd and slurm-client if absent, writes a munge key and a
# minimal slurm.conf (this host as the one node, its CPUs, one partition `ci`, root as SlurmUser,
# no cgroups, no accounting), then starts munged, slurmctld and slurmd. Idempotent: quick when the
# cluster already answers. Needs root. Prints the start-up time.
#
#   .ci/slurm.sh          install (if needed) and start
#   .ci/slurm.sh stop     stop slurmd, slurmctld and munged (by their pid files)
set -euo pipefail

t0=$(date +%s)
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
LOG_DIR=/var/log/slurm
NODE=$(hostname -s)
CPUS=$(nproc)

stop() {
    for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
        if [ -s "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
}

if [ "${1:-}" = "stop" ]; then stop; exit 0; fi

if [ "$(id -u)" != 0 ]; then
    echo "slurm.sh: needs root (it installs packages and starts the Slurm daemons)" >&2
    exit 1
fi

# slurmctld and slurmd find the controller by this host's name
if ! getent hosts "$NODE" >/dev/null; then echo "127.0.0.1 $NODE" >> /etc/hosts; fi

# The configuration (written first: a changed one restarts the daemons below)
mkdir -p "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
cat > "$CONF.new" <<CONF
# Written by .ci/slurm.sh: a single-node test cluster (no cgroups, no accounting).
ClusterName=neurofer-ci
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# quick scheduling and cancellation for tests; finished jobs stay visible for 10 minutes
SchedulerParameters=sched_interval=2
KillWait=2
# a requeued job (preemption, time-out) may start again after cred_expire s (default 120)
AuthInfo=cred_expire=10
MinJobAge=600
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
NodeName=$NODE CPUs=$CPUS State=UNKNOWN
PartitionName=ci Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
changed=0
if ! cmp -s "$CONF.new" "$CONF"; then changed=1; mv "$CONF.new" "$CONF"; else rm -f "$CONF.new"; fi

# Already up with this configuration (controller answers, node usable): nothing to do.
if [ "$changed" = 0 ] && command -v sinfo >/dev/null && scontrol ping 2>/dev/null | grep -q UP \
        && sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then
    echo "slurm.sh: Slurm already running ($(sinfo -h -N -o '%N %T %c CPUs' | head -1))"
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null
fi

# munge: a key, then the daemon
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R root:root /etc/munge /var/lib/munge /var/log/munge /run/munge
chmod 700 /etc/munge /var/lib/munge /var/log/munge
chmod 755 /run/munge
chmod 400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    rm -f /run/munge/munged.pid
    munged --force
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi


stop_daemon() {  # by pid file, waiting for it to exit
    local pidfile=$1 pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}
if [ "$changed" = 1 ]; then stop_daemon /run/slurmd.pid; stop_daemon /run/slurmctld.pid; fi
if ! scontrol ping 2>/dev/null | grep -q UP; then
    stop_daemon /run/slurmctld.pid
    slurmctld
fi
if [ ! -s /run/slurmd.pid ] || ! kill -0 "$(cat /run/slurmd.pid)" 2>/dev/null; then
    slurmd
fi

for _ in $(seq 120); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
    case "$state" in
        idle|mixed|allocated) break ;;
        down*|drain*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
case "$state" in
    idle|mixed|allocated) ;;
    *) echo "slurm.sh: the node did not come up (state '$state'); see $LOG_DIR" >&2
       tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
       exit 1 ;;
esac
echo "slurm.sh: Slurm up in $(( $(date +%s) - t0 )) s ($(sinfo -h -N -o '%N %T %c CPUs' | head -1))"
