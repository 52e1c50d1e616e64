#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# issue 11 item 7: `maintenance start|end` during an operation.  While
# prepare-restart waits at the job gate (its journal open), `maintenance end`
# must not delete the reservation: a --no-requeue job submitted then would
# start and the fleet stop would kill it.  It refuses with exit 6, naming the
# operation and what to do; a running operation's lock is refused even with
# --force; --force with the journal open ends it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2

gate=$(slurm_submit --no-requeue -J gate --wrap "sleep 600")
slurm_wait_state "$gate" RUNNING 30
assert_rc 3 pcm prepare-restart --stop-start --yes
assert_eq "$(plan_resv)" yes "reservation after exit 3"
id=$(json_get 'd["id"]' <"$T/state/journal.json")

# the journal is open: end refuses, the reservation stays
assert_rc 6 pcm maintenance end
assert_eq "$(plan_resv)" yes "reservation kept by a refused end"
assert_contains "$OUT" "operation $id" "names the operation"
assert_contains "$OUT" "pcm-agent abort" "says what to do"
assert_contains "$OUT" "--force" "mentions --force"
late=$(slurm_submit --no-requeue -J late -t 5 --wrap "sleep 600")
sleep 3	# a few scheduling passes
assert_eq "$(slurm_job_state "$late")" PENDING "--no-requeue job submitted during the job gate"
assert_rc 6 pcm maintenance start
assert_contains "$OUT" "operation $id" "start refused too"
assert_rc 6 pcm maintenance end --json
assert_rc 0 pcm maintenance status
assert_contains "$OUT" "maintenance reservation $PLAN_RESV" "status needs no lock"

# an operation that runs (holds the lock): refused even with --force
bg holder flock -o "$T/state/lock" sleep 60
holder=$BG_PID
wait_for 10 "the lock to be held" sh -c "! flock -n '$T/state/lock' true"
assert_rc 6 pcm maintenance end --force
assert_contains "$OUT" "holds the lock" "lock holder named"
assert_eq "$(plan_resv)" yes "reservation kept while the lock is held"
stop_pid "$holder"

# --force with the journal open: done, and said loudly
assert_rc 0 pcm maintenance end --force
assert_contains "$OUT" "deleted maintenance reservation $PLAN_RESV" "forced end"
assert_contains "$OUT" "--force: going on" "warning"
assert_eq "$(plan_resv)" no "reservation gone after --force"
# the reservation was what held the late job back
slurm_wait_state "$late" RUNNING 30
assert_rc 0 pcm maintenance start --force
assert_eq "$(plan_resv)" yes "forced start"

# no journal: no --force needed
assert_rc 0 pcm abort
assert_rc 0 pcm maintenance start
assert_rc 0 pcm maintenance end
assert_eq "$(plan_resv)" no "end without an operation"
assert_rc 2 pcm maintenance status --force
ok "maintenance start|end respect the operation"
