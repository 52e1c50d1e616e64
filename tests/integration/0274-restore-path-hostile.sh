#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 13: restore --path into a hostile destination.  A user (nobody)
# plants, before the restore: a symlink to a directory of theirs outside the
# destination where the save has a parent directory of the path (dst/a ->
# outside), and inside the selected subtree a symlink where the save has a
# file, one where it has a directory, a FIFO where it has a file (opening it
# would hang) in a world-writable directory of root's.  Nothing is written
# outside the destination, nothing planted is followed or opened, the
# planted entries are moved aside (named), the selection is restored with
# its saved owners and modes, and the user's entries outside the selection
# (a symlink, a file next to the selected directory) are left as they were.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

hostile_bed rpathhostile
ALICE=4242
mkdir -p "$S/a/b/sub" "$S/other"
for i in $(seq 200); do printf 'alice secret %d\n' "$i" >"$S/a/b/s$i"; done
printf 'alice secret\n' >"$S/a/b/secret"
printf 'fifo place\n' >"$S/a/b/f2"
printf 'deep\n' >"$S/a/b/sub/deep"
printf 'x\n' >"$S/a/x"
printf 'o\n' >"$S/other/o"
chown -R $ALICE:$ALICE "$S/a"
chmod 700 "$S/a/b" "$S/a/b/sub"
chmod 600 "$S/a/b/secret"
chmod 1777 "$S"
assert_rc 0 pcm save --source "$S" --target "$TG"

as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }
OUTSIDE=$T/outside OUTSIDE2=$T/outside2
mkdir -m 777 "$OUTSIDE" "$OUTSIDE2"
chown $NOBODY:$NOBODY "$OUTSIDE" "$OUTSIDE2"
listing() { find "$OUTSIDE" "$OUTSIDE2" -printf '%p %y %u %s\n' | LC_ALL=C sort; }

# --- a symlink at a parent position, one outside the selection
chmod 1777 "$D"
as_nobody ln -s "$OUTSIDE" "$D/a" || fail "cannot plant dst/a"
as_nobody ln -s "$OUTSIDE2" "$D/other" || fail "cannot plant dst/other"
before=$(listing)
assert_rc 0 timeout 120 "$PCM" -c "$PCM_CONF" restore --from "$TG" --to "$D" --path a/b
assert_eq "$(listing)" "$before" "outside the destination"
[ -d "$D/a" ] && [ ! -L "$D/a" ] || fail "dst/a is not a directory"
assert_eq "$(stat -c '%u %a' "$D/a" "$D/a/b" "$D/a/b/secret" | tr '\n' ' ')" \
	"$ALICE 755 $ALICE 700 $ALICE 600 " "the selection and its parent as saved"
cmp "$S/a/b/secret" "$D/a/b/secret" || fail "a/b/secret"
[ ! -e "$D/a/x" ] || fail "a/x restored though not selected"
assert_eq "$(readlink "$D/other")" "$OUTSIDE2" "the user's symlink outside the selection"
assert_contains "$OUT" "moved aside" "the planted symlink named"
q=$(ls -d "$D"/.pcm-agent-quarantine/*/)
[ -L "$q"/*-a ] && [ "$(stat -c %U "$q"/*-a)" = nobody ] || fail "the planted dst/a is not in the quarantine"
ok "a symlink at a parent position: moved aside, nothing written outside"

# --- planted inside the selected subtree, in a world-writable directory
R=$D/r2
mkdir -p "$R/a/b"
chmod 1777 "$R"
chmod 777 "$R/a/b"
as_nobody ln -s "$OUTSIDE/secret-target" "$R/a/b/secret" || fail "cannot plant a/b/secret"
as_nobody ln -s "$OUTSIDE" "$R/a/b/sub" || fail "cannot plant a/b/sub"
as_nobody mkfifo "$R/a/b/f2" || fail "cannot plant the FIFO"
as_nobody sh -c "printf 'attacker data\n' >'$R/a/x'" 2>/dev/null ||
	{ chmod 777 "$R/a" && as_nobody sh -c "printf 'attacker data\n' >'$R/a/x'"; } ||
	fail "cannot plant a/x"
chmod 755 "$R/a"
before=$(listing)
xmeta=$(stat -c '%i %U %a %s %Y' "$R/a/x")
assert_rc 0 timeout 120 "$PCM" -c "$PCM_CONF" restore --from "$TG" --to "$R" --path /a/b
assert_eq "$(listing)" "$before" "outside the destination"
[ ! -e "$OUTSIDE/secret-target" ] || fail "the secret was written through the planted symlink"
compare_trees "$S/a/b" "$R/a/b" >"$T/cmp" || { cat "$T/cmp"; fail "a/b differs from the save"; }
assert_eq "$(stat -c '%i %U %a %s %Y' "$R/a/x")" "$xmeta" "the user's file outside the selection"
assert_eq "$(cat "$R/a/x")" "attacker data" "its content"
q=$(ls -d "$R"/.pcm-agent-quarantine/*/)
for n in secret sub f2; do
	[ "$(stat -c %U "$q"/*-"$n")" = nobody ] || fail "the planted $n is not in the quarantine"
done
assert_contains "$OUT" "3 entries that were in the way" "the three plants counted"
ok "plants inside the selected subtree: moved aside, never followed or opened"
