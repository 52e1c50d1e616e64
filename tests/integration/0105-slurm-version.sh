#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Slurm release pcm-agent is built for (issue 14):
# - `pcm-agent --version` names it, and it is the test bed's Slurm;
# - against the slurmctld of another release (the head node's Slurm upgraded
#   under the agent) every Slurm command fails with a message that names both
#   releases and says to rebuild, and changes nothing (no reservation).
# The other release: Debian's (/usr) for an agent built against a prefix, else
# a Slurm built by packaging/build-slurm under /opt/slurm-*.
. "$(dirname "$0")/lib.sh"

built=$("$PCM" --version | sed -n 's/^pcm-agent .* (built for Slurm \([0-9.]*\))$/\1/p')
[ -n "$built" ] || fail "--version does not name the Slurm built for: $("$PCM" --version)"
own=${PCM_SLURM_PREFIX:-/usr}
[ -x "$own/sbin/slurmctld" ] || skip "no $own/sbin/slurmctld (packaging/install-deps)"
ownv=$("$own/sbin/slurmctld" -V | awk '{ print $2 }')
assert_eq "$built" "$ownv" "pcm-agent --version against $own/sbin/slurmctld -V"
ok "pcm-agent --version: built for Slurm $built, the bed's ($own)"

other= otherv=
for p in /usr /opt/slurm-*; do
	[ -x "$p/sbin/slurmctld" ] && [ -x "$p/bin/scontrol" ] || continue
	v=$("$p/sbin/slurmctld" -V | awk '{ print $2 }')
	[ "${v%.*}" = "${built%.*}" ] && continue
	other=$p otherv=$v
	break
done
[ -n "$other" ] ||
	skip "no Slurm of another release than $built here (packaging/build-slurm 24.11.5)"

# the bed runs the other release's daemons; the agent keeps its own libslurm
PCM_SLURM_PREFIX=$other
. "$(dirname "$0")/lib-slurm.sh"
slurm_start 2
id=$(slurm_submit --wrap "sleep 300")
slurm_wait_state "$id" RUNNING 30

# A slurmctld within two releases says its version; one further apart (22.05
# and 24.11) speaks a protocol the other side cannot read.
clear() {	# what
	case $OUT in
	*"runs Slurm $otherv, but pcm-agent was built for Slurm $built"*) ;;
	*"does not speak the protocol of Slurm $built, which pcm-agent was built for"*) ;;
	*) fail "$1 against slurmctld $otherv: no clear message: $OUT" ;;
	esac
	assert_contains "$OUT" "rebuild and reinstall pcm-agent" "$1 against slurmctld $otherv"
	assert_not_contains "$OUT" "cannot reach slurmctld" "$1 against slurmctld $otherv"
}
assert_rc 1 pcm jobs
clear jobs
ok "jobs: $(grep 'built for' <<<"$OUT")"

OUT=$(pcm status 2>&1) && fail "status succeeded against slurmctld $otherv: $OUT"
clear status

OUT=$(pcm maintenance start 2>&1) && fail "maintenance start succeeded against slurmctld $otherv: $OUT"
clear "maintenance start"
res=$(scontrol -o show reservation 2>&1)
assert_contains "$res" "No reservations in the system" "no reservation made"
ok "maintenance start refused, no reservation made"
