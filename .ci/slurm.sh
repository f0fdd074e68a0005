#!/usr/bin/env bash
# A real one-node SLURM cluster on localhost, then a workflow through `--profile profiles/slurm`.
#
#   bash .ci/slurm.sh              # the bwot pipeline on config/test-tiny.yaml, to the report
#   bash .ci/slurm.sh --selftest   # a three-job workflow of its own (proves the cluster and the profile)
#   bash .ci/slurm.sh --configfile config/shrec14-cpu.yaml [--configfile /abs/more.yaml] --keep DIR -- ...
#       any run: config files in the repository or absolute, merged in order; the arguments after -- go
#       to snakemake; DIR receives results/, benchmarks/, the time and the number of SLURM jobs running
#       every 5 s (concurrency.tsv)
#
# Run as root on Debian/Ubuntu (CI). Installs munge slurmctld slurmd slurm-client when missing, starts
# munged, slurmctld and slurmd by hand (no systemd needed), runs snakemake in a private copy of the
# workflow under `timeout`, checks the outputs, then stops every daemon it started, by PID (trap on EXIT),
# and restores any /etc/slurm file it replaced. Environment: SLURM_TIMEOUT (seconds for the snakemake
# run; default 1500, selftest 300), SLURM_NODE_CPUS (the CPUs the node declares; default the machine's,
# at least 8), KEEP_TMP=1 keeps the work folder.
set -euo pipefail

MODE=pipeline
CONFIGFILES=()
KEEP=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --selftest) MODE=selftest ;;
    --configfile) CONFIGFILES+=("${2:?--configfile needs a file}"); shift ;;
    --keep) KEEP=${2:?--keep needs a folder}; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "slurm.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
SNAKEMAKE="$REPO/.venv/bin/snakemake"
T0=$(date +%s)
log() { echo "[slurm.sh +$(($(date +%s) - T0))s] $*"; }
die() { echo "[slurm.sh] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts the SLURM daemons)"
[ -x "$SNAKEMAKE" ] || die "$SNAKEMAKE missing: run 'make test' (or create .venv) first"

WORK=$(mktemp -d /tmp/bwot-slurm.XXXXXX)
STATE="$WORK/state"
mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/etc-backup"
PIDS=()              # daemons we started, stopped in reverse order
CREATED_POLICY=""    # policy-rc.d we created (removed at exit)
RESTORE=()           # /etc/slurm files we replaced
STEPD_BEFORE=" $(pgrep -x slurmstepd | tr '\n' ' ' || true) "

cleanup() {
  local rc=$?
  set +e
  if command -v squeue >/dev/null && [ -f /etc/slurm/slurm.conf ] && [ ${#PIDS[@]} -gt 0 ]; then
    local jobs
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null)
    [ -n "$jobs" ] && { log "cancelling leftover jobs: $jobs"; timeout 10 scancel $jobs; sleep 2; }
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    local pid=${PIDS[i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "pid $pid ignored SIGTERM; SIGKILL"; kill -KILL "$pid"; }
    wait "$pid" 2>/dev/null
  done
  # job steps of our slurmd that outlived it (none expected after scancel): end them by PID
  for pid in $(pgrep -x slurmstepd || true); do
    case "$STEPD_BEFORE" in *" $pid "*) ;; *) log "ending leftover slurmstepd $pid"; kill -KILL "$pid" ;; esac
  done
  for f in "${RESTORE[@]}"; do
    if [ -e "$STATE/etc-backup/$(basename "$f")" ]; then
      cp -p "$STATE/etc-backup/$(basename "$f")" "$f"
    else
      rm -f "$f"
    fi
  done
  [ -n "$CREATED_POLICY" ] && rm -f "$CREATED_POLICY"
  if [ $rc -ne 0 ]; then
    for f in "$STATE"/slurmctld.log "$STATE"/slurmd.log; do
      [ -f "$f" ] && { echo "--- tail $f"; tail -n 30 "$f"; }
    done
  fi
  if [ "${KEEP_TMP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    log "work folder kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  log "done (exit $rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. packages -------------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
  || ! command -v munged >/dev/null; then
  log "installing munge slurmctld slurmd slurm-client"
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep the packages from starting services themselves
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    CREATED_POLICY=/usr/sbin/policy-rc.d
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq update >/dev/null
  apt-get -qq install -y --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null
fi
log "$(slurmd -V)"

# --- 2. munge ----------------------------------------------------------------------------------------
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key && chmod 0755 /run/munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running: using it"
else
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F >"$STATE/munged.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge >/dev/null || die "munged did not start"
  log "munged started (pid ${PIDS[-1]})"
fi

# --- 3. slurm.conf (at /etc/slurm: the job-step plugin strips SLURM_* variables, SLURM_CONF included) --
pgrep -x slurmctld >/dev/null && die "a slurmctld is already running on this machine"
pgrep -x slurmd >/dev/null && die "a slurmd is already running on this machine"
HOST=$(hostname -s)
# The node is declared at least as large as the profile's per-rule requests (8 CPUs, 32 GB, one GPU) so
# that profiles/slurm is used unchanged; SlurmdParameters=config_overrides accepts that, and nothing is
# enforced (no cgroups). The GPU is a count-only GRES: jobs may ask for it, none is used (test-tiny: cpu).
# A run that times its jobs declares the real CPUs (SLURM_NODE_CPUS=$(nproc)) and asks no job for more:
# two 2-thread CNN jobs on 2 real cores run ten times slower than one after the other.
read -r CPUS MEM < <(slurmd -C | awk -F'[ =]' '/^NodeName/ {
  for (i = 1; i < NF; i++) { if ($i == "CPUs") c = $(i + 1); if ($i == "RealMemory") m = $(i + 1) }
  print c, m }')
[ -n "$CPUS" ] && [ -n "$MEM" ] || die "could not read CPUs/RealMemory from 'slurmd -C'"
NODE_CPUS=${SLURM_NODE_CPUS:-$((CPUS > 8 ? CPUS : 8))}
[[ "$NODE_CPUS" =~ ^[1-9][0-9]*$ ]] || die "SLURM_NODE_CPUS must be a positive number of CPUs, got '$NODE_CPUS'"
NODE_MEM=$((MEM > 32000 ? MEM : 32000))
mkdir -p /etc/slurm
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
  [ -e "$f" ] && cp -p "$f" "$STATE/etc-backup/"
  RESTORE+=("$f")
done
cat >/etc/slurm/slurm.conf <<EOF
# written by bwot .ci/slurm.sh (removed or restored when it exits)
ClusterName=bwotci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
# squeue must still see a finished job at the executor's next status check (MinJobAge >= 3x that delay)
MinJobAge=300
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$NODE_MEM Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
echo "NodeName=$HOST Name=gpu File=/dev/null Count=1" >/etc/slurm/gres.conf
log "node: $HOST CPUs=$NODE_CPUS (real $CPUS) RealMemory=$NODE_MEM (real $MEM) Gres=gpu:1 (count only)"

# --- 4. daemons --------------------------------------------------------------------------------------
slurmctld -D >"$STATE/slurmctld.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
scontrol ping | grep -q UP || die "slurmctld did not come up"
slurmd -D >"$STATE/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do
  state=$(sinfo -h -N -o %T 2>/dev/null | head -n 1)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || die "node not idle after 30 s (state '$state')"
log "cluster up: slurmctld pid ${PIDS[-2]}, slurmd pid ${PIDS[-1]}, node idle"

# --- 5. the workflow ---------------------------------------------------------------------------------
WF="$WORK/wf"
mkdir -p "$WF"
export PATH="$REPO/.venv/bin:$PATH"
common=(--profile "$REPO/profiles/slurm" --directory "$WF" --snakefile "$WF/Snakefile"
  --slurm-init-seconds-before-status-checks 5 --seconds-between-status-checks 5
  --slurm-logdir "$WF/slurm_logs")
if [ "$MODE" = selftest ]; then
  TIMEOUT=${SLURM_TIMEOUT:-300}
  cat >"$WF/Snakefile" <<'EOF'
# Three jobs: two independent, one after both; the GPU-rule names of bwot, so the profile's
# set-resources (gpu, memory, runtime) are exercised as they are.
rule all:
    input:
        "c.txt",


rule train_backbone:
    output:
        "a.txt",
    log:
        "logs/a.log",
    shell:
        "(hostname; echo SLURM_JOB_ID=$SLURM_JOB_ID) > {output} 2> {log}"


rule extract_features:
    output:
        "b.txt",
    log:
        "logs/b.log",
    threads: 2
    shell:
        "echo threads={threads} > {output} 2> {log}"


rule train_metric:
    input:
        "a.txt",
        "b.txt",
    output:
        "c.txt",
    log:
        "logs/c.log",
    shell:
        "cat {input} > {output} 2> {log}"
EOF
  log "snakemake (selftest, timeout ${TIMEOUT}s)"
  timeout "$TIMEOUT" "$SNAKEMAKE" "${common[@]}"
  grep -q SLURM_JOB_ID=[0-9] "$WF/a.txt" || die "a.txt was not written inside a SLURM job"
  [ -s "$WF/c.txt" ] || die "c.txt missing"
  log "selftest passed: 3 jobs through SLURM ($(tr '\n' ' ' <"$WF/c.txt"))"
else
  TIMEOUT=${SLURM_TIMEOUT:-1500}
  cp -r "$REPO"/{Snakefile,rules,workflow,config,envs} "$WF"/
  if grep -lq NotImplementedError "$WF"/workflow/scripts/*.py; then
    die "stage scripts are still placeholders: $(grep -l NotImplementedError "$WF"/workflow/scripts/*.py \
      | xargs -n1 basename | tr '\n' ' ')(use --selftest)"
  fi
  [ ${#CONFIGFILES[@]} -gt 0 ] || CONFIGFILES=(config/test-tiny.yaml)
  CONFIGS=()           # repository paths point into the private copy, absolute ones stay
  for f in "${CONFIGFILES[@]}"; do case "$f" in /*) CONFIGS+=("$f") ;; *) CONFIGS+=("$WF/$f") ;; esac; done
  log "snakemake (${CONFIGFILES[*]} ${EXTRA[*]}, timeout ${TIMEOUT}s)"
  (while sleep 5; do echo "$(date +%s) $(squeue -h -t R | wc -l) $(squeue -h | wc -l)"; done \
    >"$WORK/concurrency.tsv" 2>/dev/null) &
  PIDS+=($!)          # stopped first at exit
  START=$(date +%s)
  timeout "$TIMEOUT" "$SNAKEMAKE" "${common[@]}" --configfile "${CONFIGS[@]}" "${EXTRA[@]}"
  END=$(date +%s)
  NAME=$(ls "$WF/results")
  [ "$(echo "$NAME" | wc -l)" -eq 1 ] || die "expected one run under results/, found: $NAME"
  for f in metrics.md metrics.csv pr_curves.png convergence.png gallery.png; do
    [ -s "$WF/results/$NAME/report/$f" ] || die "results/$NAME/report/$f missing or empty"
  done
  "$SNAKEMAKE" --directory "$WF" --snakefile "$WF/Snakefile" --configfile "${CONFIGS[@]}" "${EXTRA[@]}" \
    -n | grep -q "Nothing to be done" || die "a second dry run still has jobs to do"
  log "pipeline passed through SLURM in $((END - START)) s; report:"
  cat "$WF/results/$NAME/report/metrics.md"; echo
  if [ -n "$KEEP" ]; then
    mkdir -p "$KEEP/results" "$KEEP/benchmarks"
    cp -r "$WF/results/$NAME" "$KEEP/results/"
    cp -r "$WF/benchmarks/." "$KEEP/benchmarks/"
    cp "$WORK/concurrency.tsv" "$KEEP/"
    echo "{\"wall_s\": $((END - START))}" >"$KEEP/$NAME.json"
    log "kept results/$NAME, benchmarks/, concurrency.tsv and $NAME.json in $KEEP"
  fi
fi
