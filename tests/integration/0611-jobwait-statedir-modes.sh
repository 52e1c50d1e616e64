#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# issue 11 item 9: who may wake a job waiter, and whose state_dir pcm-agent
# trusts.  The waiter's FIFO was 0622: any user could open it and wake every
# waiter at will (each wake-up costs a Slurm query).  It is now writable by
# SlurmUser only (root here: 0600); the epilog still wakes the waiter.  A
# state_dir writable by other users, owned by another user, a symbolic link
# or below a directory others can change is refused with the fix named.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
need_root

printf '#!/bin/sh\nexec "%s" -c "%s" hook epilog 2>>"%s"\n' "$PCM" "$PCM_CONF" \
	"$T/log/hook-epilog.log" >"$T/epilog"
chmod 755 "$T/epilog"
SLURM_EXTRA_CONF="EpilogSlurmctld=$T/epilog" slurm_start 2
RUN=$T/run
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

id=$(slurm_submit --wrap "sleep 3")
slurm_wait_state "$id" RUNNING 20
bg waiter sh -c "\"$PCM\" -c \"$PCM_CONF\" hook wait --poll 60 --timeout 60 $id; echo \"rc=\$?\" >$T/waiter.done"
wait_for 10 "the waiter's FIFO in $RUN/jobwait" sh -c "ls $RUN/jobwait/*.fifo"
fifo=$(ls "$RUN"/jobwait/*.fifo)
assert_eq "$(stat -c '%a %U' "$fifo")" "600 root" "FIFO mode and owner (SlurmUser root)"
# the directory is open to all (SlurmUser must reach it), the FIFO is not
as_nobody test -x "$RUN/jobwait" || fail "nobody cannot reach $RUN/jobwait: the test proves nothing"
# (the waiter holds it open for reading: an open for writing would not block)
if as_nobody sh -c 'echo 666 >"$1"' _ "$fifo" 2>"$T/nobody.err"; then
	fail "an unprivileged user could open the waiter's FIFO for writing"
fi
assert_contains "$(cat "$T/nobody.err")" "Permission denied" "refused by its mode"
wait_for 30 "the waiter to finish" test -s "$T/waiter.done"
assert_contains "$(cat "$T/waiter.done")" "rc=0" "hook wait"
assert_contains "$(cat "$T/log/waiter.log")" "woken by the epilog of job $id" "root's epilog still wakes it"
ok "the FIFO is SlurmUser's alone"

# state_dir writable by others: refused, with the fix
mkdir -p "$T/state"
chmod 0777 "$T/state"
assert_rc 1 pcm abort
assert_contains "$OUT" "state_dir $T/state is writable by other users (mode 0777)" "0777 refused"
assert_contains "$OUT" "chmod 0700 $T/state" "the fix"
chmod 0700 "$T/state"
chown 65534 "$T/state"
assert_rc 1 pcm abort
assert_contains "$OUT" "state_dir $T/state is owned by uid 65534" "foreign owner refused"
chown 0 "$T/state"
mv "$T/state" "$T/state.real"
ln -s "$T/state.real" "$T/state"
assert_rc 1 pcm abort
assert_contains "$OUT" "is not a directory (a symbolic link?)" "symlink refused"
rm "$T/state"
mv "$T/state.real" "$T/state"
# below a directory other users can write to (not sticky)
mkdir -m 0777 "$T/open"
chmod 0777 "$T/open"
assert_rc 1 pcm --state-dir "$T/open/state" abort
assert_contains "$OUT" "is below $T/open, which other users can change" "open parent refused"
assert_rc 0 pcm abort
ok "state_dir checked"
