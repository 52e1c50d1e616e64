#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 11, item 2: a user creates /scratch/alice (theirs, 0777) before the
# restore and, from inside it (its cwd) and by path, moves every file out of
# it as they appear, in a tight loop, all through the restore.  Alice's
# saved files must never be in a directory the attacker can write: the
# planted directory is moved aside, the restored one is root 0700 until its
# files are in place.  The attacker gets nothing (its loot directory stays
# empty) and alice's tree is restored whole.  Also: an existing directory
# owned by root but world-writable is made root-only while it is filled.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3 (the unprivileged attacker runs it)"

hostile_bed hostiledir
ALICE=4242

mkdir -p "$S/alice/deep/er" "$S/shared"
for i in $(seq 1500); do printf 'alice secret %d\n' "$i" >"$S/alice/f$i"; done
for i in $(seq 300); do printf 'deeper %d\n' "$i" >"$S/alice/deep/er/g$i"; done
for i in $(seq 300); do printf 'shared %d\n' "$i" >"$S/shared/s$i"; done
chown -R $ALICE:$ALICE "$S/alice" "$S/shared"
chmod -R go-rwx "$S/alice"
chmod 755 "$S/shared"
chmod 1777 "$S"
assert_rc 0 pcm save --source "$S" --target "$TG"
cp -a "$S" "$T/ref"

chmod 1777 "$D"
mkdir -m 777 "$T/att"
# root's, but world-writable: restore must not fill it while others can write
mkdir -m 777 "$D/shared"
cat >"$T/attacker.py" <<'PY'
import os, sys, time
d, att = sys.argv[1], sys.argv[2]
os.mkdir(os.path.join(d, 'alice'), 0o777)
os.chmod(os.path.join(d, 'alice'), 0o777)
loot = os.path.join(d, 'loot')
os.mkdir(loot, 0o777)
os.chdir(os.path.join(d, 'alice'))
open(os.path.join(att, 'ready'), 'w').write('ready')
got = 0
end = time.time() + float(sys.argv[3])
while time.time() < end:
    for where in ('.', os.path.join(d, 'alice'), os.path.join(d, 'alice', 'deep', 'er'),
                  os.path.join(d, 'shared')):
        try:
            names = os.listdir(where)
        except OSError:
            continue
        for n in names:
            try:
                os.rename(os.path.join(where, n), os.path.join(loot, '%d-%s' % (got, n)))
                got += 1
            except OSError:
                pass
open(os.path.join(att, 'result'), 'w').write('%d\n' % got)
PY
bg attacker setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	/usr/bin/python3 "$T/attacker.py" "$D" "$T/att" 6
wait_for 10 "the attacker's directory" test -s "$T/att/ready"
assert_eq "$(stat -c %U "$D/alice")" nobody "the planted directory"

assert_rc 0 pcm restore --from "$TG" --to "$D"
wait_for 15 "the attacker's end" test -s "$T/att/result"
echo "attacker: $(cat "$T/att/result") renames"
assert_eq "$(ls -A "$D/loot" | wc -l)" 0 "files the attacker moved out of the restore"
assert_eq "$(stat -c '%u %a' "$D/alice")" "$ALICE 700" "alice's directory"
assert_contains "$OUT" "moved aside" "the planted directory named"
q=$(ls -d "$D"/.pcm-agent-quarantine/*/)
[ "$(stat -c %U "$q"/*-alice)" = nobody ] || fail "the planted directory is not in the quarantine"
mv "$D/.pcm-agent-quarantine" "$T/quarantine"
touch -r "$T/ref" "$D"	# as restored, before that move
compare_trees "$T/ref" "$D" loot >"$T/cmp.log" ||
	{ cat "$T/cmp.log"; fail "the restore differs from the save"; }
ok "an attacker moving files out of a planted directory during the restore got nothing"
