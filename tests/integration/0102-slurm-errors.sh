#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Slurm failures give a clear error and exit 1, never a hang and never an
# exit from inside libslurm: slurmctld hung (SIGSTOP: connects, never
# answers) -> error after slurm_timeout; slurmctld stopped -> error at once;
# slurm.conf missing or unparsable -> error naming the file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"

SLURM_PCM_TIMEOUT=2
slurm_start 2
assert_rc 0 pcm jobs

# elapsed_rc WANT MAX_SECONDS CMD...: exit status and wall time
elapsed_rc() {
	local want=$1 max=$2; shift 2
	local t0 t1
	t0=$(date +%s.%N)
	assert_rc "$want" "$@"
	t1=$(date +%s.%N)
	python3 -c "import sys; sys.exit(0 if $t1 - $t0 <= $max else 1)" ||
		fail "'$*' took $(python3 -c "print(round($t1 - $t0, 1))")s, limit ${max}s"
}

# hung controller: the TCP connect works, the RPC never returns
kill -STOP "$SLURM_CTLD_PID"
at_exit "kill -CONT $SLURM_CTLD_PID"
elapsed_rc 1 5 pcm jobs
assert_contains "$OUT" "cannot reach slurmctld (" "hung: message"
assert_contains "$OUT" "within 2s (slurm_timeout)" "hung: names the timeout"
assert_contains "$OUT" "systemctl status slurmctld" "hung: what to do"
elapsed_rc 1 5 pcm status
assert_contains "$OUT" "NOT reachable" "status while hung"
elapsed_rc 1 5 pcm maintenance status
kill -CONT "$SLURM_CTLD_PID"

# controller stopped: refused at once
slurm_ctld_stop
elapsed_rc 1 2 pcm jobs
assert_contains "$OUT" "cannot reach slurmctld ($(hostname -s):$SLURM_CTLD_PORT from $SLURM_CONF): " \
	"down: message"
rc=0; J=$(pcm --json status 2>/dev/null) || rc=$?
assert_eq "$rc" 1 "status --json exit status"
assert_eq "$(echo "$J" | json_get 'd["slurm"]["reachable"]')" False "json: not reachable"
assert_contains "$(echo "$J" | json_get 'd["slurm"]["error"]')" "cannot reach slurmctld" "json: error"
assert_eq "$(echo "$J" | json_get 'd["jobs"]')" None "json: jobs unknown"
assert_eq "$(echo "$J" | json_get 'd["maintenance"]')" None "json: maintenance unknown"
assert_eq "$(echo "$J" | json_get 'sorted(d["slurm"].keys())')" \
	"['conf', 'controller', 'error', 'nodes', 'partitions', 'reachable']" "json: same keys when down"
assert_eq "$(echo "$J" | json_get 'd["slurm"]["partitions"]')" None "json: partitions unknown"
assert_eq "$(echo "$J" | json_get 'd["cluster"]["slurm_cluster"]')" "$SLURM_CLUSTER" "json: ClusterName without slurmctld"
elapsed_rc 1 2 pcm maintenance start

# slurm.conf missing: our message, not libslurm's exit
mv "$SLURM_CONF" "$SLURM_CONF.moved"
for cmd in "jobs" "status" "maintenance status"; do
	# shellcheck disable=SC2086
	assert_rc 1 pcm $cmd
	assert_contains "$OUT" "cannot use Slurm config $SLURM_CONF: No such file or directory" "missing: $cmd"
done

# slurm.conf that libslurm cannot parse: libslurm's own fatal() happens in a
# probe child; pcm-agent goes on to print its message and exit 1
printf 'ClusterName=x\nNoSuchSlurmKey=1\n' >"$SLURM_CONF"
assert_rc 1 pcm jobs
assert_contains "$OUT" "cannot load Slurm config $SLURM_CONF: libslurm rejected it" "unparsable"
ok "Slurm errors are clear and bounded"
