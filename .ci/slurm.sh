# A single-node SLURM cluster for the launcher tests (@pytest.mark.slurm), sourced by .ci/run.
# munged, slurmctld and slurmd on loopback, from Debian's packages (installed when missing),
# configured in a temporary directory for this machine's cores, stopped and deleted when .ci/run
# exits. It exports GAUNTLET_TEST_SLURM=1 and SLURM_CONF. When it cannot start, the reason is printed and
# the slurm tests skip. GAUNTLET_CI_SLURM=0 skips this.
SLURM_TMP=""

slurm_say() { echo "[ci/slurm] $*" >&2; }

slurm_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    slurm_say "slurmctld not found, and apt-get is unavailable or this is not root"
    return 1
  fi
  slurm_say "slurmctld not found; installing slurm-wlm and munge with apt-get"
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq >/dev/null \
    && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends \
      slurm-wlm munge >/dev/null
}

slurm_start() {
  local host cpus mem i
  if [ "$(id -u)" != 0 ]; then slurm_say "not root: SLURM's daemons need root here"; return 1; fi
  if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
    slurm_install || { slurm_say "could not install SLURM"; return 1; }
  fi
  SLURM_TMP="$(mktemp -d "${TMPDIR:-/tmp}/gauntlet-slurm.XXXXXX")" || return 1
  chmod 755 "$SLURM_TMP"
  mkdir -p "$SLURM_TMP/munge" "$SLURM_TMP/state" "$SLURM_TMP/spool"
  # munge: a fresh key and socket of our own, so a system munged (if any) is left alone
  dd if=/dev/urandom of="$SLURM_TMP/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$SLURM_TMP/munge/munge.key"
  if ! munged --force -S "$SLURM_TMP/munge/munge.socket" --key-file "$SLURM_TMP/munge/munge.key" \
    --pid-file "$SLURM_TMP/munge/munged.pid" --log-file "$SLURM_TMP/munge/munged.log" \
    --seed-file "$SLURM_TMP/munge/munged.seed" 2>"$SLURM_TMP/munge/start.log"; then
    slurm_say "munged did not start:"; tail -n 5 "$SLURM_TMP/munge/start.log" >&2; return 1
  fi
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"
  cat >"$SLURM_TMP/slurm.conf" <<CONF
ClusterName=gauntlet-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(( 20000 + RANDOM % 20000 ))
SlurmdPort=$(( 40001 + RANDOM % 20000 ))
AuthType=auth/munge
# cred_expire: how long a requeued job waits before it may start again (default 120 s), so
# that its old credential has expired; 10 s is plenty on one machine
AuthInfo=socket=$SLURM_TMP/munge/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$SLURM_TMP/state
SlurmdSpoolDir=$SLURM_TMP/spool
SlurmctldPidFile=$SLURM_TMP/slurmctld.pid
SlurmdPidFile=$SLURM_TMP/slurmd.pid
SlurmctldLogFile=$SLURM_TMP/slurmctld.log
SlurmdLogFile=$SLURM_TMP/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$SLURM_TMP/slurm.conf"
  slurmctld -f "$SLURM_CONF" >"$SLURM_TMP/slurmctld.out" 2>&1 \
    || { slurm_say "slurmctld did not start:"; tail -n 20 "$SLURM_TMP/slurmctld.log" >&2; return 1; }
  slurmd -f "$SLURM_CONF" >"$SLURM_TMP/slurmd.out" 2>&1 \
    || { slurm_say "slurmd did not start:"; tail -n 20 "$SLURM_TMP/slurmd.log" >&2; return 1; }
  for i in $(seq 1 30); do
    if sinfo -h -o %T 2>/dev/null | grep -q -E '^(idle|mixed)'; then
      export GAUNTLET_TEST_SLURM=1
      slurm_say "SLURM $(sinfo -V | awk '{print $2}') on $host: $cpus CPUs, partition debug"
      return 0
    fi
    sleep 1
  done
  slurm_say "the node did not come up:"; sinfo >&2 || true; tail -n 20 "$SLURM_TMP/slurmd.log" >&2
  return 1
}

slurm_stop() {
  if [ -n "$SLURM_TMP" ] && [ -d "$SLURM_TMP" ]; then
    for pidfile in slurmd.pid slurmctld.pid munge/munged.pid; do
      [ -f "$SLURM_TMP/$pidfile" ] && kill "$(cat "$SLURM_TMP/$pidfile")" 2>/dev/null
    done
    sleep 1
    rm -rf "$SLURM_TMP"
  fi
}
