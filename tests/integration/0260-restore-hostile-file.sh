#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 11, item 1: a user plants, before the restore, a copy of a saved
# setuid-root program and of another user's private file in the world-
# writable destination, with the saved size and mtime, and keeps a writable
# MAP_SHARED mapping and an open fd of each (and a hard link).  Restore must
# never write into, chown or chmod those inodes: the restored files are new
# inodes, root-owned 4755 / alice's 0600 as saved, the attacker's mapping
# and fd see none of the restored data and writing through the mapping
# afterwards changes nothing restored.  The planted files are moved aside.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3 (the unprivileged attacker runs it)"

hostile_bed hostile
ALICE=4242

# the save: a setuid-root tool, alice's private file, a file alice hard-linked
head -c 20000 /dev/urandom >"$S/tool"
chmod 4755 "$S/tool"
printf 'ALICE-PRIVATE-%s\n' "$RANDOM$RANDOM$RANDOM" >"$S/alice-private.txt"
chown $ALICE:$ALICE "$S/alice-private.txt"
chmod 600 "$S/alice-private.txt"
printf 'ALICE-NOTES-%s\n' "$RANDOM$RANDOM" >"$S/notes"
chown $ALICE:$ALICE "$S/notes"
chmod 600 "$S/notes"
chmod 1777 "$S"
assert_rc 0 pcm save --source "$S" --target "$TG"

# the boot: an empty, world-writable /scratch; the attacker plants first
chmod 1777 "$D"
mkdir -m 777 "$T/att"
cat >"$T/attacker.py" <<'PY'
import mmap, os, sys, time
d, att = sys.argv[1], sys.argv[2]
held = {}
for name in sys.argv[3:]:
    size, mtime_ns = open(os.path.join(att, name + '.meta')).read().split()
    size, mtime_ns = int(size), int(mtime_ns)
    p = os.path.join(d, name)
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    os.write(fd, b'A' * size)
    m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    os.utime(p, ns=(mtime_ns, mtime_ns))
    if name == 'notes':	# and a hard link of it, planted under another name
        os.link(p, os.path.join(d, 'notes-link-by-attacker'))
    held[name] = (fd, m, size, os.stat(p).st_ino)
open(os.path.join(att, 'ready'), 'w').write(' '.join('%s=%d' % (n, v[3]) for n, v in held.items()))
while not os.path.exists(os.path.join(att, 'go')):
    time.sleep(0.05)
out = []
for name, (fd, m, size, ino) in held.items():
    via_map = m[:size]
    via_fd = os.pread(fd, size, 0)
    seen = via_map != b'A' * size or via_fd != b'A' * size
    out.append('%s %s' % (name, 'SAW-DATA' if seen else 'nothing'))
    m[:size] = b'B' * size	# and write through the mapping now
    m.flush()
    try:
        os.pwrite(fd, b'C' * 16, 0)
    except OSError:
        pass
open(os.path.join(att, 'result'), 'w').write('\n'.join(out) + '\n')
PY
for n in tool alice-private.txt notes; do
	stat -c '%s' "$S/$n" | tr '\n' ' ' >"$T/att/$n.meta"
	python3 -c "import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)" "$S/$n" >>"$T/att/$n.meta"
done
bg attacker setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	/usr/bin/python3 "$T/attacker.py" "$D" "$T/att" tool alice-private.txt notes
wait_for 10 "the attacker's plants" test -s "$T/att/ready"
planted=$(cat "$T/att/ready")
pmode=$(stat -c %a "$D/tool")
[ "$(stat -c %U "$D/tool")" = nobody ] || fail "the plant is not the attacker's"

assert_rc 0 pcm --json restore --from "$TG" --to "$D"
json=$(echo "$OUT" | sed -n '/^{/,$p')
touch "$T/att/go"
wait_for 10 "the attacker's findings" test -s "$T/att/result"
cat "$T/att/result"

# nothing seen through the held mapping / fd
assert_not_contains "$(cat "$T/att/result")" SAW-DATA "the attacker saw restored data"
# new inodes, the saved owner and mode, the saved content even after the
# attacker wrote through the mapping and the fd
for n in tool alice-private.txt notes; do
	old=$(echo "$planted" | tr ' ' '\n' | sed -n "s/^$n=//p")
	assert_eq "$(stat -c %i "$D/$n")" "$(stat -c %i "$D/$n" | grep -vx "$old")" "$n is not a new inode"
	assert_eq "$(stat -c %h "$D/$n")" 1 "$n link count"
	cmp -s "$S/$n" "$D/$n" || fail "$n: restored content differs (written through the attacker's mapping?)"
done
assert_eq "$(stat -c '%u %a' "$D/tool")" "0 4755" "tool owner and mode"
assert_eq "$(stat -c '%u %a' "$D/alice-private.txt")" "$ALICE 600" "alice's file owner and mode"
assert_eq "$(stat -c '%u %a' "$D/notes")" "$ALICE 600" "alice's notes owner and mode"
# the attacker's inodes were never given root or alice as owner, nor setuid
q=$(echo "$json" | json_get 'd["quarantine"]')
[ -n "$q" ] && [ -d "$q" ] || fail "no quarantine named: $json"
assert_eq "$(stat -c '%u %a' "$q")" "0 700" "quarantine owner and mode"
assert_eq "$(echo "$json" | json_get 'd["quarantined"]')" 3 "entries moved aside"
for f in "$q"/*; do
	assert_eq "$(stat -c '%U %a' "$f")" "nobody $pmode" "planted $f kept as it was"
done
[ "$(stat -c %U "$D/notes-link-by-attacker")" = nobody ] || fail "the attacker's own extra name changed owner"
ok "planted copies with a writable mapping and a held fd: new inodes, nothing seen, moved aside"

# a second restore over the first: kept as they are (only checked), still root's
ino=$(stat -c %i "$D/tool")
assert_rc 0 pcm restore --from "$TG" --to "$D"
assert_eq "$(stat -c %i "$D/tool")" "$ino" "a second restore rewrote an identical file"
assert_eq "$(stat -c '%u %a' "$D/tool")" "0 4755" "tool after a second restore"
ok "a restore over its own result keeps the identical files"
