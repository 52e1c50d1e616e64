#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The agent runs as root over a world-writable /scratch: a symlink planted in
# the source, or swapped in for a directory while the save walks and copies
# (renameat2 RENAME_EXCHANGE in a tight loop), must never make it read
# outside the source; one planted or swapped in the restore destination must
# never make it write outside.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

cat >>"$PCM_CONF" <<CONF
cluster_name = safety
workers = 2
CONF
loopfs src ext4 100
loopfs tgt ext4 200
S=$T/src TG=$T/tgt OUT=$T/outside
SECRET="OUTSIDE-SECRET-$RANDOM$RANDOM"
mkdir -p "$OUT/sub"
for i in $(seq 20); do echo "$SECRET" >"$OUT/outside-only-$i"; echo "$SECRET" >"$OUT/sub/f$i"; done
mkdir -p "$S/a/b"
for i in $(seq 400); do echo "inside $i" >"$S/a/f$i"; echo "inside $i" >"$S/a/b/g$i"; done
ln -s "$OUT" "$S/planted"			# planted: a link to outside
ln -s "$OUT/outside-only-1" "$S/planted-file"
ln -s "$OUT" "$S/alink"				# the racer swaps it with a/

# racer DIR: exchange DIR/a and DIR/alink as fast as it can
cat >"$T/racer.py" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
d = os.fsencode(sys.argv[1])
a, l = os.path.join(d, b'a'), os.path.join(d, b'alink')
while True:
    libc.renameat2(-100, a, -100, l, 2)   # RENAME_EXCHANGE
PY

no_secret() {	# what
	if grep -rqs "$SECRET" "$TG/pcm-agent"; then fail "$1: data from outside the source in the save"; fi
	if awk '$3 ~ /^outside-only/' "$TG"/pcm-agent/*/*/MANIFEST | grep -q .; then
		fail "$1: entries from outside in the manifest"
	fi
}

assert_rc 0 pcm save --source "$S" --target "$TG"
no_secret "planted symlinks"
ok "planted symlinks saved as symlinks, not followed"

bg racer python3 "$T/racer.py" "$S"
racer=$BG_PID
# at least 12 saves, and on until one of them met the swap (a save takes a
# few ms here: the racer does not always land inside one), 80 at most
: >"$T/saves.log"
for i in $(seq 80); do
	rc=0; pcm save --source "$S" --target "$TG" >"$T/save.log" 2>&1 || rc=$?
	[ $rc -eq 0 ] || [ $rc -eq 1 ] || { cat "$T/save.log"; fail "save under the race exited $rc"; }
	cat "$T/save.log" >>"$T/saves.log"
	no_secret "save $i under the race"
	echo "inside $i" >>"$S/a/f1" 2>/dev/null || echo "inside $i" >>"$S/alink/f1"
	[ "$i" -lt 12 ] || ! grep -q "vanished or was replaced" "$T/saves.log" || break
done
stop_pid $racer
# the race was real: saves saw a/ or its files vanish or be replaced
n=$(grep -c "vanished or was replaced" "$T/saves.log" || true)
[ "$n" -gt 0 ] || fail "no save noticed the swap: the race did not happen"
ok "12 saves while a/ and a symlink to outside were swapped: nothing from outside"

# restore: planted links in the destination are replaced, never followed
if [ -L "$S/a" ]; then mv "$S/a" "$S/a.tmp" && mv "$S/alink" "$S/a" && mv "$S/a.tmp" "$S/alink"; fi
[ -d "$S/a" ] && [ ! -L "$S/a" ] || fail "a/ is not back"
assert_rc 0 pcm save --source "$S" --target "$TG"
OUT2=$T/outside2
mkdir -p "$OUT2" "$T/dst"
ln -s "$OUT2" "$T/dst/a"
ln -s "$OUT2/victim" "$T/dst/planted-file"
echo victim >"$OUT2/victim"
assert_rc 0 pcm restore --from "$TG" --to "$T/dst"
[ -d "$T/dst/a" ] && [ ! -L "$T/dst/a" ] || fail "planted symlink dst/a not replaced"
assert_eq "$(ls -A "$OUT2")" victim "files written outside the destination"
assert_eq "$(cat "$OUT2/victim")" victim "victim file changed"
ok "symlinks planted in the destination replaced, nothing written outside"

# restore while a racer swaps dst/a with a link to outside
rm -rf "$T/dst" && mkdir -p "$T/dst" && ln -s "$OUT2" "$T/dst/alink"
bg racer2 python3 "$T/racer.py" "$T/dst"
racer=$BG_PID
for i in $(seq 8); do
	rc=0; pcm restore --from "$TG" --to "$T/dst" >"$T/restore.log" 2>&1 || rc=$?
	cat "$T/restore.log" >>"$T/restores.log"
	[ $rc -eq 0 ] || [ $rc -eq 1 ] || { cat "$T/restore.log"; fail "restore under the race exited $rc"; }
	assert_eq "$(ls -A "$OUT2")" victim "restore $i under the race wrote outside"
done
stop_pid $racer
echo "what the restores under the race said:"; sed 's/[0-9]\+/N/g' "$T/restores.log" | sort | uniq -c
ok "8 restores while dst/a was swapped with a link to outside: nothing written outside"

# a user's file name is not a terminal escape nor a forged log line in what
# root reads: a socket (skipped with a notice naming it) called ESC]2;...BEL
# with a newline, and a FIFO's parent directory likewise
mkdir -p "$T/esc"
python3 - "$T/esc" <<'PY'
import socket, sys, os
socket.socket(socket.AF_UNIX).bind(os.path.join(sys.argv[1], '\x1b]2;owned\x07\npcm-agent: all good'))
PY
assert_rc 0 pcm save --source "$T/esc" --target "$TG"
assert_contains "$OUT" 'skipping socket' "socket notice"
assert_contains "$OUT" '\x1b]2;owned\x07\x0apcm-agent: all good' "the name escaped"
case "$OUT" in *$'\x1b'* | *$'\x07'*) fail "a raw control character reached the terminal: $OUT" ;; esac
assert_eq "$(printf '%s\n' "$OUT" | grep -c '^pcm-agent: all good')" 0 "a forged log line"
ok "hostile names are escaped in every message (\\xHH)"
