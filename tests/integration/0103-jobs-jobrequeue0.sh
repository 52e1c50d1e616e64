#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# JobRequeue=0 in slurm.conf: a batch job submitted without --requeue
# would fail, one with --requeue would be requeued; a real power_down_force
# confirms both.  (Slurm 22.05 stores the effective flag in each job at
# submit time; pcm-agent must follow it.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"

SLURM_EXTRA_CONF="JobRequeue=0"
slurm_start 2

plain=$(slurm_submit -J plain --wrap "sleep 300")
req=$(slurm_submit -J req --requeue --wrap "sleep 300")
slurm_wait_state "$plain" RUNNING 20
slurm_wait_state "$req" RUNNING 20

assert_rc 0 pcm jobs --json
J=$OUT
field() { echo "$J" | json_get "[j for j in d['jobs'] if j['id'] == $1][0]$2"; }
assert_eq "$(field "$plain" "['outcome']")" fail "JobRequeue=0: plain batch job"
assert_eq "$(field "$plain" "['requeue']")" False "JobRequeue=0: flag"
assert_eq "$(field "$req" "['outcome']")" requeue "JobRequeue=0: --requeue job"
assert_eq "$(echo "$J" | json_get 'd["summary"]')" \
	"{'running': 2, 'requeue': 1, 'fail': 1, 'pending': 0}" "summary"

scontrol update nodename="$(echo "$SLURM_NODES" | tr ' ' ,)" state=power_down_force
slurm_wait_state "$plain" NODE_FAIL 30
slurm_wait_state "$req" PENDING 30
ok "JobRequeue=0 triage matches a fleet stop"
