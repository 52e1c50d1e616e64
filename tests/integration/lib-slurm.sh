# SPDX-License-Identifier: GPL-2.0-or-later
# tests/integration/lib-slurm.sh - a real Slurm cluster inside the test's $T.
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib-slurm.sh"
#   slurm_start 2            # munged + slurmctld + slurmd v1, v2; all idle
#   id=$(slurm_submit --wrap "sleep 300")
#   slurm_wait_state "$id" RUNNING 20
#
# Everything lives under $T/slurm (config, munge key and socket, spool,
# state, pid files); logs go to $T/log/ (shown when a test fails).  Every
# port comes from free_port.  Every daemon is stopped by pid at exit: the
# ones started here through bg, slurmd restarted by ResumeProgram through
# its pid file, and the slurmstepd and job processes left over through
# what they hold open in $T (newer slurmstepd have no SLURM_CONF in their
# environment).
#
# The Slurm is the one pcm-agent was built against: PCM_SLURM_PREFIX (set by
# tests/run-all from $BUILD/slurm-prefix; /usr = Debian's) - its daemons and
# commands by absolute path, and first on PATH for the test's own commands,
# whatever else the machine has installed.
#
# Before slurm_start, a test may set:
#   SLURM_EXTRA_CONF   extra slurm.conf lines (PrologSlurmctld=..., JobRequeue=0, ...)
#   SLURM_PLUGSTACK    path of a plugstack.conf (PlugStackConfig=)
#   SLURM_CPUS         CPUs per node (default 2)
#   SLURM_PCM_TIMEOUT  slurm_timeout written to $PCM_CONF (default 15)
#
# After slurm_start:
#   SLURM_CONF (exported), SLURM_DIR, SLURM_NODES ("v1 v2"), SLURM_PARTITION
#   (compute), SLURM_CTLD_PORT, SLURM_CTLD_PID, SLURMD_PID_v1.. (the
#   slurmd started here), SLURM_CLUSTER (pcmtest); $PCM_CONF has
#   "slurm_conf = $SLURM_CONF" and "slurm_timeout = $SLURM_PCM_TIMEOUT" appended.
#
# Functions:
#   slurm_start [NNODES]            start the bed (NNODES >= 2, default 2)
#   slurm_stop                      stop everything (also done at exit)
#   slurm_ctld_stop / slurm_ctld_start   stop / restart slurmctld alone
#   slurm_submit SBATCH_ARGS...     sbatch --parsable; prints the job id
#   slurm_srun_bg NAME SRUN_ARGS... an interactive srun in the background (bg)
#   slurm_job_state JOBID           prints JobState (RUNNING, PENDING, ...)
#   slurm_job_field JOBID FIELD     prints one field of `scontrol show job`
#   slurm_wait_state JOBID STATE SECS   wait until the job is in STATE
#   slurm_node_state NODE           prints the node's state (idle, alloc, ...)
#   slurm_wait_nodes STATE SECS     wait until every node's state is STATE
#   slurm_cancel_all                scancel every job of the bed

SLURM_CLUSTER=pcmtest
SLURM_PARTITION=compute
SLURM_PREFIX=${PCM_SLURM_PREFIX:-/usr}
SLURM_SBIN=$SLURM_PREFIX/sbin
SLURM_BIN=$SLURM_PREFIX/bin
# $T/slurm-path: links to this Slurm's commands only, first on PATH (putting
# /usr/bin first would also change which python3 the tests run)
_slurm_path() {
	local d=$T/slurm-path b
	mkdir -p "$d"
	for b in sacct sacctmgr salloc sattach sbatch sbcast scancel scontrol sdiag sinfo sprio \
		squeue sreport srun sshare sstat strigger; do
		[ -x "$SLURM_BIN/$b" ] && ln -sf "$SLURM_BIN/$b" "$d/$b"
	done
	for b in slurmctld slurmd slurmstepd slurmdbd; do
		[ -x "$SLURM_SBIN/$b" ] && ln -sf "$SLURM_SBIN/$b" "$d/$b"
	done
	export PATH="$d:$PATH"
}
_slurm_path

_slurm_need() {
	need_root
	local b
	for b in munged mungekey; do
		command -v "$b" >/dev/null 2>&1 ||
			skip "$b not installed (run packaging/install-deps)"
	done
	for b in sbin/slurmctld sbin/slurmd sbin/slurmstepd bin/sbatch bin/srun bin/scontrol \
		bin/squeue bin/sinfo bin/scancel; do
		[ -x "$SLURM_PREFIX/$b" ] || {
			[ "$SLURM_PREFIX" = /usr ] &&
				skip "$SLURM_PREFIX/$b not installed (run packaging/install-deps)"
			fail "$SLURM_PREFIX/$b missing: not a Slurm prefix (packaging/build-slurm)"
		}
	done
}

# _slurm_kill_pidfile FILE NAME: stop the process in FILE if it is NAME
_slurm_kill_pidfile() {
	local f=$1 name=$2 pid
	[ -s "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null) || return 0
	[ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 0
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 0
	stop_pid "$pid"
}

# Processes of this bed that no pid file names (slurmstepd, job steps):
# a Slurm daemon of this prefix with a file of $T open (slurmstepd writes
# the slurmd log), a process working in $SLURM_DIR (job steps run in
# work/, slurmd in its spool), or one whose environment carries this
# bed's SLURM_CONF.  Never this shell or its parents.
_slurm_bed_pids() {
	local p pid exe cwd f mine ancestors=" " a=$$
	while [ -n "$a" ] && [ "$a" -gt 1 ] 2>/dev/null; do
		ancestors="$ancestors$a "
		a=$(awk '/^PPid:/ { print $2 }' "/proc/$a/status" 2>/dev/null)
	done
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $ancestors == *" $pid "* ]] && continue
		[ "$pid" = "$BASHPID" ] && continue
		mine=0
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		case $cwd/ in "$SLURM_DIR"/*) mine=1 ;; esac
		if [ $mine = 0 ]; then
			exe=$(readlink "$p/exe" 2>/dev/null) || exe=
			case $exe in
			"$SLURM_SBIN"/slurmstepd | "$SLURM_SBIN"/slurmd | "$SLURM_SBIN"/slurmctld)
				for f in "$p"/fd/*; do
					case $(readlink "$f" 2>/dev/null) in
					"$T"/*) mine=1; break ;;
					esac
				done ;;
			esac
		fi
		[ $mine = 0 ] && grep -qzxF "SLURM_CONF=$SLURM_CONF" "$p/environ" 2>/dev/null && mine=1
		[ $mine = 1 ] && echo "$pid"
	done
	return 0
}

slurm_stop() {
	[ -n "${SLURM_DIR:-}" ] && [ -d "$SLURM_DIR" ] || return 0
	local n pid pass
	# slurmd restarted by ResumeProgram are not ours through bg
	for n in $SLURM_NODES; do
		_slurm_kill_pidfile "$SLURM_DIR/run/slurmd-$n.pid" slurmd || true
	done
	_slurm_kill_pidfile "$SLURM_DIR/run/slurmctld.pid" slurmctld || true
	# slurmstepd and job processes, twice for what forked meanwhile
	for pass in 1 2; do
		for pid in $(_slurm_bed_pids); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		sleep 0.1
	done
	return 0
}

# a free port none of this bed's daemons uses yet (free_port may give the
# same port twice: two slurmd on one port make one node a ghost)
_slurm_port() {
	local p
	while :; do
		p=$(free_port)
		[[ " $_SLURM_PORTS " == *" $p "* ]] || break
	done
	_SLURM_PORTS="$_SLURM_PORTS $p"
	_SLURM_PORT=$p	# (not printed: a $(...) subshell would lose _SLURM_PORTS)
}

_slurm_write_conf() {
	local nnodes=$1 cpus=$2 host i
	host=$(hostname -s)
	{
		cat <<EOF
# written by tests/integration/lib-slurm.sh
ClusterName=$SLURM_CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$SLURM_CTLD_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SLURM_DIR/munge-run/munge.socket,cred_expire=10
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool/%n
SlurmctldPidFile=$SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/run/slurmd-%n.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Slurm 23.11 without accounting storage: the main scheduler finds every batch
# job's association invalid at first (Reason=InvalidAccount) and only the
# backfill scheduler starts it, every bf_interval (30 s by default)
SchedulerParameters=bf_interval=1
SlurmdParameters=config_overrides
ReturnToService=1
MaxJobCount=30000
MaxArraySize=20001
KillWait=2
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=60
MessageTimeout=5
SuspendProgram=$SLURM_DIR/bin/suspend
ResumeProgram=$SLURM_DIR/bin/resume
SuspendTime=3600
SuspendTimeout=5
ResumeTimeout=60
EOF
		[ -n "${SLURM_PLUGSTACK:-}" ] && echo "PlugStackConfig=$SLURM_PLUGSTACK"
		for ((i = 1; i <= nnodes; i++)); do
			_slurm_port
			echo "NodeName=v$i NodeAddr=127.0.0.1 NodeHostname=$host Port=$_SLURM_PORT" \
				"CPUs=$cpus RealMemory=1000 State=UNKNOWN"
		done
		echo "PartitionName=$SLURM_PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
		[ -n "${SLURM_EXTRA_CONF:-}" ] && printf '%s\n' "$SLURM_EXTRA_CONF"
	} >"$SLURM_CONF"
	return 0
}

# Power saving, so that `scontrol update nodename=.. state=power_down_force`
# works as on ParallelCluster: suspend stops the node's slurmd, resume
# starts it again with -b (reboot reported, or the node goes DOWN).
_slurm_write_power_scripts() {
	cat >"$SLURM_DIR/bin/suspend" <<EOF
#!/bin/bash
# SuspendProgram: stop the slurmd of every node in \$1
export SLURM_CONF=$SLURM_CONF
export PATH=$T/slurm-path:\$PATH
echo "\$(date +%T) suspend \$1" >>$T/log/power.log
for n in \$($SLURM_BIN/scontrol show hostnames "\$1"); do
	f=$SLURM_DIR/run/slurmd-\$n.pid
	[ -s "\$f" ] || continue
	p=\$(cat "\$f")
	[ "\$(cat /proc/\$p/comm 2>/dev/null)" = slurmd ] && kill -TERM "\$p"
done
exit 0
EOF
	cat >"$SLURM_DIR/bin/resume" <<EOF
#!/bin/bash
# ResumeProgram: start the slurmd of every node in \$1 again (-b: rebooted)
export SLURM_CONF=$SLURM_CONF
export PATH=$T/slurm-path:\$PATH
echo "\$(date +%T) resume \$1" >>$T/log/power.log
for n in \$($SLURM_BIN/scontrol show hostnames "\$1"); do
	f=$SLURM_DIR/run/slurmd-\$n.pid
	if [ -s "\$f" ]; then
		p=\$(cat "\$f")
		if [ "\$(cat /proc/\$p/comm 2>/dev/null)" = slurmd ]; then
			kill -TERM "\$p"
			for i in \$(seq 50); do [ -d /proc/\$p ] || break; sleep 0.1; done
		fi
	fi
	# in a session of its own: slurmctld may kill the script's process group
	# when it ends, before slurmd -b has daemonized
	setsid -w $SLURM_SBIN/slurmd -b -N "\$n" </dev/null >>$T/log/power.log 2>&1
	echo "\$(date +%T) slurmd -b -N \$n: exit \$?" >>$T/log/power.log
done
exit 0
EOF
	chmod 755 "$SLURM_DIR/bin/suspend" "$SLURM_DIR/bin/resume"
}

_slurm_start_munge() {
	mkdir -p "$SLURM_DIR/munge" "$SLURM_DIR/munge-run"
	chmod 700 "$SLURM_DIR/munge"
	chmod 755 "$SLURM_DIR/munge-run"
	mungekey -c -k "$SLURM_DIR/munge/munge.key" >/dev/null 2>&1 ||
		fail "cannot create the munge key in $SLURM_DIR/munge"
	bg munged munged -F -f --key-file="$SLURM_DIR/munge/munge.key" \
		--socket="$SLURM_DIR/munge-run/munge.socket" \
		--pid-file="$SLURM_DIR/munge-run/munged.pid" \
		--log-file="$T/log/munged.log" --seed-file="$SLURM_DIR/munge/munged.seed"
	wait_for 10 "munged socket" test -S "$SLURM_DIR/munge-run/munge.socket"
}

# start slurmctld and wait until it answers; 1 if it died (port taken?)
_slurm_ctld_try() {
	local end=$((SECONDS + 15))
	bg slurmctld-stdout "$SLURM_SBIN/slurmctld" -D -i
	SLURM_CTLD_PID=$BG_PID
	until scontrol ping >/dev/null 2>&1; do
		kill -0 "$SLURM_CTLD_PID" 2>/dev/null || return 1
		[ $SECONDS -lt $end ] ||
			fail "slurmctld did not answer within 15 s (see $T/log/slurmctld.log)"
		sleep 0.1
	done
}

slurm_ctld_start() {
	_slurm_ctld_try ||
		fail "slurmctld exited at start: $(tail -n 3 "$T/log/slurmctld.log" 2>/dev/null)"
}

slurm_ctld_stop() {
	[ -n "${SLURM_CTLD_PID:-}" ] && stop_pid "$SLURM_CTLD_PID"
	_slurm_kill_pidfile "$SLURM_DIR/run/slurmctld.pid" slurmctld
	SLURM_CTLD_PID=
}

_slurm_all_nodes() {	# STATE: true when every node's state is STATE
	local want=$1 s
	s=$(sinfo -h -N -o '%T' 2>/dev/null) || return 1
	[ -n "$s" ] || return 1
	[ -z "$(echo "$s" | grep -vx "$want")" ]
}

slurm_wait_nodes() {	# STATE SECS
	wait_for "$2" "every node $1 (sinfo: $(sinfo -h -N -o '%N=%T' 2>/dev/null | tr '\n' ' '))" \
		_slurm_all_nodes "$1"
}

slurm_start() {
	local nnodes=${1:-2} cpus=${SLURM_CPUS:-2} i
	_slurm_need
	[ "$nnodes" -ge 2 ] || fail "slurm_start: need at least 2 nodes"
	SLURM_DIR=$T/slurm
	mkdir -p "$SLURM_DIR"/{etc,state,spool,run,bin,work,out}
	for ((i = 1; i <= nnodes; i++)); do mkdir -p "$SLURM_DIR/spool/v$i"; done
	export SLURM_CONF=$SLURM_DIR/etc/slurm.conf
	SLURM_NODES=
	for ((i = 1; i <= nnodes; i++)); do SLURM_NODES="$SLURM_NODES v$i"; done
	SLURM_NODES=${SLURM_NODES# }
	# registered before anything starts: stops what bg does not know about
	at_exit slurm_stop
	_slurm_start_munge
	# a port from free_port may be taken by someone else before slurmctld
	# binds it: then try again with new ports
	for i in 1 2 3; do
		_SLURM_PORTS=
		_slurm_port
		SLURM_CTLD_PORT=$_SLURM_PORT
		_slurm_write_conf "$nnodes" "$cpus"
		_slurm_write_power_scripts
		_slurm_ctld_try && break
		[ "$i" -lt 3 ] ||
			fail "slurmctld exited at start: $(tail -n 3 "$T/log/slurmctld.log" 2>/dev/null)"
		echo "slurmctld exited at start (attempt $i), trying new ports" >&2
	done
	for n in $SLURM_NODES; do
		bg "slurmd-$n-stdout" "$SLURM_SBIN/slurmd" -D -N "$n"
		eval "SLURMD_PID_$n=\$BG_PID"
	done
	slurm_wait_nodes idle 30
	# a slurmd may register and then die on a port someone else took
	for n in $SLURM_NODES; do
		eval "i=\$SLURMD_PID_$n"
		kill -0 "$i" 2>/dev/null ||
			fail "slurmd $n exited at start: $(tail -n 2 "$T/log/slurmd-$n.log" 2>/dev/null)"
	done
	printf 'slurm_conf = %s\nslurm_timeout = %s\n' "$SLURM_CONF" "${SLURM_PCM_TIMEOUT:-15}" >>"$PCM_CONF"
}

# slurm_submit SBATCH_ARGS...: prints the job id.  Output files go to
# $SLURM_DIR/out unless the caller passes -o.
slurm_submit() {
	local out
	out=$(sbatch --parsable --chdir="$SLURM_DIR/work" -o "$SLURM_DIR/out/slurm-%j.out" "$@") ||
		fail "sbatch $* failed: $out"
	echo "${out%%;*}"
}

# slurm_srun_bg NAME SRUN_ARGS...: an interactive (non-batch) job; BG_PID is srun
slurm_srun_bg() {
	local name=$1; shift
	bg "$name" srun --chdir="$SLURM_DIR/work" "$@"
}

slurm_job_field() {	# JOBID FIELD
	scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1
}

slurm_job_state() { slurm_job_field "$1" JobState; }

slurm_wait_state() {	# JOBID STATE SECS
	local id=$1 want=$2 secs=${3:-30}
	local end=$((SECONDS + secs)) s=
	while :; do
		s=$(slurm_job_state "$id")
		[ "$s" = "$want" ] && return 0
		[ $SECONDS -lt $end ] ||
			fail "job $id: state '$s' after ${secs}s, want $want ($(slurm_job_field "$id" Reason))"
		sleep 0.2
	done
}

slurm_node_state() { sinfo -h -N -n "$1" -o '%T' 2>/dev/null | head -n1; }

slurm_cancel_all() {
	local ids
	ids=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
	[ -z "$ids" ] || scancel $ids 2>/dev/null || true
}
