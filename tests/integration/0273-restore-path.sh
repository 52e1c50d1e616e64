#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 13: pcm-agent restore --path (and a full restore that left out a hard
# link whose file's directory was finished before the link was reached).  From a save of a tree with every kind
# of entry (nested directories, hard links, symlinks, devices, xattrs, names
# with a newline and invalid UTF-8): a directory and a file restored into an
# empty destination are exact copies, with their parent directories as
# saved and nothing else; overlapping paths restore their union once; a hard
# link whose file is outside the selection is restored as a file (its other
# selected name linked to it, the split counted in text and JSON); paths
# with odd bytes and a leading /; a path not in the save is an error (exit
# 1) that creates nothing; over an existing destination, what is outside the
# selection is untouched, extras inside it stay, wrong files inside it are
# rewritten and a right one is kept (same inode).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

printf 'cluster_name = rpath\nworkers = 2\n' >>"$PCM_CONF"
loopfs src ext4 160
loopfs tgt ext4 160
loopfs dst ext4 300
S=$T/src TG=$T/tgt D=$T/dst
make_tree "$S"
NL=$(printf 'new\nline') BAD=$(printf 'bad-\351')
mkdir -p "$S/a/b/c" "$S/other" "$S/0ther"
printf 'file in a/b\n' >"$S/a/b/file"
printf 'deep in c\n' >"$S/a/b/c/deep"
printf 'newline name\n' >"$S/a/$NL"
printf 'latin1 name\n' >"$S/a/$BAD"
printf 'kept\n' >"$S/other/keep"
printf 'shared data\n' >"$S/0ther/hl-orig"
ln "$S/0ther/hl-orig" "$S/a/b/hl"
ln "$S/0ther/hl-orig" "$S/a/b/c/hl2"
# between the file and its links, enough entries that its directory is
# finished before the links are reached
mkdir "$S/1mid"
for i in $(seq 400); do printf '%d\n' "$i" >"$S/1mid/m$i"; done
chown 1234:5678 "$S/0ther/hl-orig"
chmod 640 "$S/0ther/hl-orig"
chown 777:778 "$S/a" "$S/a/b/file"
chmod 750 "$S/a"
chmod 2711 "$S/a/b"
touch -d '2003-04-05 06:07:08.25' "$S/a/b/file" "$S/a/b"
touch -d '2004-05-06 07:08:09.5' "$S/a"
touch -d '2005-06-07 08:09:10.75' "$S"
assert_rc 0 pcm save --source "$S" --target "$TG"

# the full restore first: every hard link made, even when its file's
# directory was finished long before (it was silently left out)
assert_rc 0 pcm restore --from "$TG" --to "$D/full"
compare_trees "$S" "$D/full" sock >"$T/cmp0" || { cat "$T/cmp0"; fail "the full restore differs"; }
rm -rf "${D:?}/full"
ok "a full restore makes a hard link whose file's directory was finished before it"

# meta PATH: type, mode, owner, ns mtime
meta() { stat -c '%F %a %u:%g %.9Y' "$1"; }
entries() { (cd "$1" && find . -mindepth 1 ! -path ./lost+found | LC_ALL=C sort); }

# --- a directory and a file into an empty destination
R=$D/r1
assert_rc 0 pcm restore --from "$TG" --to "$R" --path /dir --path a/b/file
assert_contains "$OUT" "the selected paths" "the summary says it was a partial restore"
compare_trees "$S/dir" "$R/dir" >"$T/cmp1" || { cat "$T/cmp1"; fail "dir differs from the save"; }
cmp "$S/a/b/file" "$R/a/b/file" || fail "a/b/file: content"
for p in a a/b a/b/file; do
	assert_eq "$(meta "$R/$p")" "$(meta "$S/$p")" "$p as saved"
done
assert_eq "$(stat -c '%a %u %.9Y' "$R")" "$(stat -c '%a %u %.9Y' "$S")" "the destination as saved"
want=$(cd "$S" && { find dir; printf '%s\n' a a/b a/b/file; } | sed 's|^|./|' | LC_ALL=C sort)
[ "$(entries "$R")" = "$want" ] || { diff <(echo "$want") <(entries "$R"); fail "restored more or less than the selection"; }
ok "a directory and a file with their parents, nothing else"

# --- overlapping paths: the union once (the same result as the outer one)
R=$D/r2
OUT=$(pcm --json restore --from "$TG" --to "$R" --path dir --path dir/sub --path /dir/sub/hello.txt \
	2>/dev/null) || fail "overlapping paths: $OUT"
echo "$OUT" | json_get 'd["entries"]' >"$T/n2"
assert_eq "$(cat "$T/n2")" "$(($(cd "$S" && find dir | wc -l) + 1))" "entries of the union (dir and the root)"
compare_trees "$S/dir" "$R/dir" >"$T/cmp2" || { cat "$T/cmp2"; fail "overlapping paths: dir differs"; }
ok "overlapping paths restore their union"

# --- hard links whose file is outside the selection, odd names
R=$D/r3
assert_rc 0 pcm restore --from "$TG" --to "$R" --path a/b --path "a/$NL" --path "/a/$BAD"
assert_contains "$OUT" "restored 1 hard links as separate files" "the split named"
cmp "$S/0ther/hl-orig" "$R/a/b/hl" || fail "a/b/hl: content"
assert_eq "$(stat -c '%h %i' "$R/a/b/hl")" "2 $(stat -c %i "$R/a/b/c/hl2")" "hl and hl2: one inode, two names"
assert_eq "$(stat -c '%a %u:%g' "$R/a/b/hl")" "640 1234:5678" "the split link's metadata"
[ ! -e "$R/0ther" ] && [ ! -e "$R/other" ] || fail "0ther/ or other/ restored though not selected"
cmp "$S/a/$NL" "$R/a/$NL" && cmp "$S/a/$BAD" "$R/a/$BAD" || fail "the odd names"
compare_trees "$S/a/b" "$R/a/b" >"$T/cmp3" 2>&1 || { cat "$T/cmp3"; fail "a/b differs"; }
assert_eq "$(find "$R/a" -mindepth 1 -maxdepth 1 -printf . | wc -c)" 3 "a: b and the two odd names"
OUT=$(pcm --json restore --from "$TG" --to "$D/r3j" --path a/b/c 2>/dev/null) || fail "--json restore: $OUT"
python3 - "$OUT" <<'PY' || fail "restore --json: $OUT"
import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] and d["operation"] == "restore", d
assert d["paths"] == ["a/b/c"], d
assert d["links_split"] == 1, d
assert d["files"] == 2 and d["entries"] == 6, d   # deep, hl2; root, a, b, c
PY
ok "a hard link split from its file outside the selection; names with a newline and invalid UTF-8"

# --- not in the save: exit 1, named, nothing created
for p in nothere a/b/file/x ../etc dir/../a; do
	assert_rc 1 pcm restore --from "$TG" --to "$D/none" --path dir --path "$p"
	assert_contains "$OUT" "$p is not in the save" "the missing path named"
	[ ! -e "$D/none" ] || fail "a failed restore --path $p created the destination"
done
assert_rc 2 pcm restore --from "$TG" --to "$D/none" --path ''
ok "a path not in the save: exit 1, nothing restored"

# --- over an existing destination
R=$D/r4
cp -a "$S" "$R"
printf 'changed outside\n' >"$R/other/keep"
touch -d '2010-01-01' "$R/other/keep"
chmod 600 "$R/other"
printf 'stale\n' >"$R/a/b/file"
printf 'extra\n' >"$R/dir/extra"
printf 'extra\n' >"$R/top-extra"
rm "$R/dir/sub/subsub/rel-link"
ln -s /etc/shadow "$R/dir/sub/subsub/rel-link"
before_out=$(meta "$R/other/keep")/$(stat -c %i "$R/other/keep")/$(meta "$R/other")/$(meta "$R/abs-link")
ino_right=$(stat -c %i "$R/dir/random.bin")
exec 3<"$R/a/b/file"	# the stale inode, held open: it must not be written
assert_rc 0 pcm restore --from "$TG" --to "$R" --path dir --path a/b/file
assert_eq "$(meta "$R/other/keep")/$(stat -c %i "$R/other/keep")/$(meta "$R/other")/$(meta "$R/abs-link")" \
	"$before_out" "entries outside the selection"
assert_eq "$(cat "$R/other/keep")" "changed outside" "a file outside the selection"
[ -e "$R/top-extra" ] && [ -e "$R/dir/extra" ] || fail "an extra entry was removed"
compare_trees "$S/dir" "$R/dir" extra >"$T/cmp4" || { cat "$T/cmp4"; fail "dir not restored over the old one"; }
cmp "$S/a/b/file" "$R/a/b/file" || fail "the stale file was not rewritten"
assert_eq "$(cat <&3)" stale "the stale inode (written in place?)"
exec 3<&-
assert_eq "$(stat -c %i "$R/dir/random.bin")" "$ino_right" "a file already right is kept"
ok "over an existing destination: outside untouched, extras kept, the selection restored"
