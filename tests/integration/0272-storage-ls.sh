#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent ls and saves: the content of a save like ls -l / tar -tv (mode,
# numeric owner, size, time, symlink targets, hard links, devices), -R and a
# PATH, names with a newline, an escape sequence and invalid UTF-8 printed
# escaped (text and JSON), a path not in the save (exit 1); every save under
# a target with its state and when it was last verified.
. "$(dirname "$0")/lib.sh"
need_root
export AWS_EC2_METADATA_DISABLED=true
S=$T/src E=$T/efs
mkdir -p "$S/d/sub" "$E"
printf 12345 >"$S/d/file"
chown 1234:567 "$S/d/file"
chmod 4751 "$S/d/file"
touch -d '2021-02-03 04:05:06' "$S/d/file"
ln "$S/d/file" "$S/d/hard"
ln -s ../d/file "$S/d/sym"
mkfifo "$S/d/fifo"
mknod "$S/d/null" c 1 3
echo deep >"$S/d/sub/deep"
bad=$(printf 'evil\nname\033[31m\xff\\x')
printf x >"$S/d/$bad"

assert_rc 0 pcm saves --from "$E"
assert_contains "$OUT" "no saves under $E" "saves of an empty target"
assert_rc 0 pcm save --source "$S" --target "$E"
assert_rc 0 pcm ls --from "$E" d
echo "$OUT" >"$T/ls.txt"
grep -q '^-rwsr-x--x 1234/567          5 2021-02-03 04:05 d/file$' "$T/ls.txt" ||
	fail "ls: the file line: $OUT"
grep -q '^lrwxrwxrwx 0/0  *9 .* d/sym -> ../d/file$' "$T/ls.txt" || fail "ls: the symlink: $OUT"
grep -q ' d/hard link to d/file$' "$T/ls.txt" || fail "ls: the hard link: $OUT"
grep -q '^prw-r--r-- .* d/fifo$' "$T/ls.txt" || fail "ls: the fifo: $OUT"
grep -q '^crw-r--r-- 0/0  *1,3 .* d/null$' "$T/ls.txt" || fail "ls: the device: $OUT"
grep -qF 'd/evil\nname\x1b[31m\xff\\x' "$T/ls.txt" || fail "ls: the escaped name: $OUT"
grep -q $'\033' "$T/ls.txt" && fail "ls printed a raw escape sequence"
[ "$(wc -l <"$T/ls.txt")" -eq 7 ] || fail "ls d: want 7 entries (no -R): $OUT"
assert_not_contains "$OUT" "sub/deep" "ls without -R stays in d"
assert_rc 0 pcm ls --from "$E" -R
assert_contains "$OUT" "d/sub/deep" "ls -R goes down"
assert_rc 0 pcm ls --from "$E" /d/sub/deep
[ "$(echo "$OUT" | wc -l)" -eq 1 ] || fail "ls of a file: one line: $OUT"
assert_rc 1 pcm ls --from "$E" d/nothere
assert_contains "$OUT" "not in the save" "a path not in the save"
assert_rc 1 pcm ls --from "$E" d/file/x
OUT=$(pcm ls --from "$E" -R --json 2>/dev/null)
python3 - "$OUT" <<'PY' || fail "ls --json: $OUT"
import json, sys
d = {e["path"]: e for e in json.loads(sys.argv[1])}
f = d["d/file"]
assert (f["type"], f["mode"], f["uid"], f["gid"], f["size"]) == ("f", "-rwsr-x--x", 1234, 567, 5), f
assert d["d/sym"]["target"] == "../d/file"
assert d["d/hard"]["link_to"] == "d/file"
assert (d["d/null"]["major"], d["d/null"]["minor"]) == (1, 3)
assert "d/evil\\nname\\x1b[31m\\xff\\\\x" in d, sorted(d)
assert "d/sub/deep" in d
PY

# saves: one complete save, never verified; verify makes it current; a
# newer save makes that verify older than the save
assert_rc 0 pcm saves --from "$E"
assert_contains "$OUT" "complete" "saves: the state"
line=$(echo "$OUT" | sed -n 2p)
[ "$(echo "$line" | awk '{print $NF}')" = - ] || fail "saves: verified before any verify: $OUT"
assert_rc 0 pcm verify --target "$E"
assert_rc 0 pcm saves --from "$E"
assert_contains "$OUT" "(current)" "saves after a verify"
sleep 1.1
echo more >"$S/d/more"
assert_rc 0 pcm save --source "$S" --target "$E"
OUT=$(pcm saves --from "$E" --json 2>/dev/null)
python3 - "$OUT" "$S" <<'PY' || fail "saves --json: $OUT"
import json, sys
s = json.loads(sys.argv[1])
assert len(s) == 1, s
s = s[0]
assert s["complete"] and not s["prestage"] and s["source"] == sys.argv[2], s
assert s["entries"] == 11 and s["verified"] and not s["verified_current"], s
import os, stat
ino = {}
for root, dirs, files in os.walk(sys.argv[2]):
    for n in files:
        st = os.lstat(os.path.join(root, n))
        if stat.S_ISREG(st.st_mode):
            ino[(st.st_dev, st.st_ino)] = st.st_size
assert s["files"] == len(ino) and s["bytes"] == sum(ino.values()), (s, len(ino), sum(ino.values()))
PY
# a second instance's save under the same target, and a broken one
mkdir -p "$E/pcm-agent/other/i-0abc"
cp -a "$(dirname "$(find "$E/pcm-agent" -name MANIFEST | head -n1)")/." "$E/pcm-agent/other/i-0abc/"
printf 'garbage\n' >>"$E/pcm-agent/other/i-0abc/MANIFEST"
assert_rc 0 pcm saves --from "$E"
assert_contains "$OUT" "incomplete" "a damaged manifest is no complete save"
[ "$(echo "$OUT" | grep -c pcm-agent/)" -eq 2 ] || fail "saves: want two saves: $OUT"
ok "ls (modes, owners, links, devices, escaped names, -R, PATH, JSON) and saves"
