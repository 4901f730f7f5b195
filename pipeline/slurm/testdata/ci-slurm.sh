#!/usr/bin/env bash
# Runs the Slurm executor's integration tests on a single-node Slurm cluster
# on localhost, for CI (Debian 12, root, no systemd, no cgroup delegation, no
# slurmdbd). It installs Slurm from Debian when missing (slurmctld slurmd
# slurm-client munge, no recommends), starts munged, slurmctld and slurmd
# unless a controller already answers, runs `go test ./pipeline/slurm/` with
# NNRUNNER_SLURM=1, and stops the daemons it started.
#
# Usage (from the repository root): bash pipeline/slurm/testdata/ci-slurm.sh
set -euo pipefail

RUNDIR=${RUNDIR:-/tmp/nnrunner-slurm-ci}   # pid files and daemon output
CONF=/etc/slurm/slurm.conf
started=()

log() { echo "ci-slurm: $*" >&2; }

install_pkgs() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

write_conf() {
  local host hw realmem
  host=$(hostname -s)
  # Hardware as slurmd sees it; advertise 80% of the memory, keeping room
  # for the runner itself.
  hw=$(slurmd -C | head -1 | cut -d' ' -f2-)
  realmem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  hw=$(sed "s/RealMemory=[0-9]*/RealMemory=$((realmem * 80 / 100))/" <<<"$hw")
  # Own state folders: slurmctld refuses state saved under another
  # ClusterName.
  install -d -o slurm -g slurm /var/lib/slurm/nnrunnerci-ctld /var/lib/slurm/nnrunnerci-d /var/log/slurm
  cat >"$CONF" <<EOF
ClusterName=nnrunnerci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/nnrunnerci-ctld
SlurmdSpoolDir=/var/lib/slurm/nnrunnerci-d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups: works in containers and VMs without cgroup delegation.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd, so no sacct: the runner reads scontrol and this log.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
MinJobAge=3600
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# A default memory per CPU, so jobs without --mem run side by side.
DefMemPerCPU=500
ReturnToService=2
GresTypes=gpu
NodeName=${host} NodeAddr=127.0.0.1 ${hw} Gres=gpu:fake:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # A fake GPU so --gres=gpu:1 requests can be scheduled; a gpu gres needs
  # a File= (a Count-only line registers 0 GPUs and drains the node).
  cat >/etc/slurm/gres.conf <<EOF
NodeName=${host} Name=gpu Type=fake File=/dev/null
EOF
}

# start NAME CMD...: start a foreground daemon, remembering its pid.
start() {
  local name=$1; shift
  "$@" >"$RUNDIR/$name.out" 2>&1 &
  echo $! >"$RUNDIR/$name.pid"
  started+=("$name")
}

start_daemons() {
  mkdir -p "$RUNDIR"
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  # setpriv execs, so the pid is the daemon's; -F/-D keep daemons in the
  # foreground.
  start munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  start slurmctld /usr/sbin/slurmctld -D -c -i
  local up=
  for _ in $(seq 300); do
    if scontrol ping 2>/dev/null | grep -q UP; then up=1; break; fi
    sleep 0.1
  done
  [ -n "$up" ] || { log "slurmctld did not come up:"; tail -5 "$RUNDIR/slurmctld.out" >&2; return 1; }
  start slurmd /usr/sbin/slurmd -D
  local st=
  for _ in $(seq 300); do
    st=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case "$st" in
      idle) break ;;
      *drain*|inval*) sinfo -N -o '%N %t %E'; return 1 ;;
    esac
    sleep 0.1
  done
  [ "$st" = idle ] || { log "the node did not become idle (state '$st'):"; tail -5 "$RUNDIR/slurmd.out" >&2; return 1; }
  log "cluster up: $(sinfo -h -N -o '%N %t cpus=%c mem=%m gres=%G')"
}

# stop_daemons stops, in reverse order, only the daemons this script started.
stop_daemons() {
  local i name pid
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    name=${started[i]}
    pid=$(cat "$RUNDIR/$name.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$RUNDIR/$name.pid"
  done
}

if command -v scontrol >/dev/null && scontrol ping 2>/dev/null | grep -q UP; then
  log "a Slurm controller already answers; using it"
else
  if [ "$(id -u)" != 0 ]; then
    log "installing and starting Slurm needs root; run as root or start a cluster first"
    exit 1
  fi
  trap stop_daemons EXIT
  install_pkgs
  write_conf
  start_daemons
fi
NNRUNNER_SLURM=1 go test -count=1 ./pipeline/slurm/
