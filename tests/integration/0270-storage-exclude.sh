#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Excludes as an admin uses them: `exclude` in the config and save
# --exclude (rsync rules: anchored, directories only, * and **), a
# CACHEDIR.TAG and a .pcm-agent-exclude marker (a user's marker in a shared
# directory is ignored), the summary and --json say how much was left out,
# the excluded are not in the manifest nor restored, an incremental save
# after a new exclude drops them, a bad pattern is a usage error.
. "$(dirname "$0")/lib.sh"
need_root

S=$T/scratch E=$T/efs
mkdir -p "$S" "$E"
echo "cluster_name = exclu" >>"$PCM_CONF"
export AWS_EC2_METADATA_DISABLED=true

mkdir -p "$S/proj/build" "$S/proj/src" "$S/home/alice/.cache/pip" "$S/tmp" \
	"$S/deep/a/b/c" "$S/shared" "$S/home/bob/ccache"
chmod 1777 "$S/shared"
echo main >"$S/proj/src/main.c"
echo obj >"$S/proj/src/main.o"
head -c 3000 /dev/urandom >"$S/proj/build/out.bin"
echo "not a dir" >"$S/proj/src/build"	# "build/" leaves this file alone
head -c 5000 /dev/urandom >"$S/home/alice/.cache/pip/wheel"
printf 'Signature: 8a477f597d28d172789f06886806bc55\n# pip cache\n' >"$S/home/alice/.cache/CACHEDIR.TAG"
echo scratchy >"$S/tmp/t1"
echo deep >"$S/deep/a/b/c/core"
echo top >"$S/core"
echo keepme >"$S/shared/important"
# bob's marker in his own directory counts; his marker in the shared
# sticky directory (not his) does not
chown -R 4242:4242 "$S/home/bob"
echo cc >"$S/home/bob/ccache/obj"
touch "$S/home/bob/ccache/.pcm-agent-exclude" && chown 4242:4242 "$S/home/bob/ccache/.pcm-agent-exclude"
touch "$S/shared/.pcm-agent-exclude" && chown 4242:4242 "$S/shared/.pcm-agent-exclude"
# a name with a newline and invalid UTF-8, excluded by a pattern of bytes
printf 'x' >"$S/proj/$(printf 'bad\nname\xff.o')"

# --- a first save: config patterns and markers ------------------------------
cat >>"$PCM_CONF" <<'CONF'
exclude = build/
exclude = /tmp
CONF
assert_rc 0 pcm save --source "$S" --target "$E"
assert_contains "$OUT" "excluded" "the summary names what is excluded"
SD=$(dirname "$(find "$E/pcm-agent" -name MANIFEST | head -n1)")
M=$SD/MANIFEST
# assert_rc_json WANT CMD...: as assert_rc, stdout only in OUT
assert_rc_json() {
	local want=$1 rc=0; shift
	OUT=$("$@" 2>"$T/stderr") || rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want: $OUT $(cat "$T/stderr")"
}
has() { python3 - "$M" "$1" <<'PY'
import sys, urllib.parse
want = sys.argv[2].encode()
for line in open(sys.argv[1], "rb"):
    f = line.split(b" ")
    if len(f) > 2 and f[0] in b"dfhlpcb" and len(f[0]) == 1:
        if urllib.parse.unquote_to_bytes(f[2].decode("ascii", "replace")) == want:
            sys.exit(0)
sys.exit(1)
PY
}
for gone in out.bin tmp t1 .cache wheel CACHEDIR.TAG ccache obj; do
	has "$gone" && fail "$gone is in the manifest, but excluded"
done
for kept in src main.c main.o core important .pcm-agent-exclude shared bob; do
	has "$kept" || fail "$kept is missing from the manifest"
done
# src/build is a file: "build/" matches directories only
python3 - "$M" <<'PY' || fail "build/: the directory proj/build is saved, or the file proj/src/build is not"
import sys
lines = [l for l in open(sys.argv[1], "rb") if l.split(b" ")[2:3] == [b"build"]]
sys.exit(0 if len(lines) == 1 and lines[0].startswith(b"f ") else 1)
PY
# how much: build (dir, out.bin), tmp (dir, t1), .cache (dir, pip, wheel,
# the tag), ccache (dir, obj, marker)
assert_rc_json 0 pcm save --source "$S" --target "$E" --json
assert_eq "$(echo "$OUT" | json_get 'd["excluded"]')" 11 "excluded entries (json)"
bytes=$(cat "$S/proj/build/out.bin" "$S/tmp/t1" "$S/home/alice/.cache/pip/wheel" \
	"$S/home/alice/.cache/CACHEDIR.TAG" "$S/home/bob/ccache/obj" | wc -c)
assert_eq "$(echo "$OUT" | json_get 'd["bytes_excluded"]')" "$bytes" "excluded bytes (json)"

# --- save --exclude adds to the config; the next save drops them -----------
assert_rc_json 0 pcm save --source "$S" --target "$E" --exclude '*.o' --exclude '/deep/**/core' --json
assert_eq "$(echo "$OUT" | json_get 'd["removed"]')" 3 "main.o, the byte name, deep core dropped"
has main.o && fail "main.o still saved after --exclude '*.o'"
has "$(printf 'bad\nname\xff.o')" && fail "the byte name still saved after --exclude '*.o'"
has core || fail "the top-level core went (only /deep/**/core is excluded)"
python3 - "$M" <<'PY' || fail "deep/a/b/c/core still saved"
import sys
lines = [l.split(b" ") for l in open(sys.argv[1], "rb")]
sys.exit(1 if sum(1 for f in lines if f[2:3] == [b"core"]) != 1 else 0)
PY

# --- restore: what was excluded is not there -------------------------------
assert_rc 0 pcm restore --from "$E" --to "$T/restored"
[ -e "$T/restored/proj/src/main.c" ] || fail "main.c not restored"
[ -e "$T/restored/shared/important" ] || fail "the shared directory with a foreign marker was not saved"
for gone in proj/build tmp home/alice/.cache home/bob/ccache proj/src/main.o deep/a/b/c/core; do
	[ -e "$T/restored/$gone" ] && fail "$gone restored, but it was excluded"
done

# --- bad patterns ----------------------------------------------------------
assert_rc 2 pcm save --source "$S" --target "$E" --exclude /
assert_contains "$OUT" "--exclude" "the bad option is named"
assert_contains "$OUT" "saved root" "and why"
assert_rc 2 pcm save --source "$S" --target "$E" --exclude ''
ok "excludes: config and --exclude, markers, summary, manifest, incremental drop, restore"
