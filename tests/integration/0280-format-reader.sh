#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# storage/FORMAT.md is enough to read a save: tests/tools/pcm_read.py, a
# reader written from it alone, restores saves made by `pcm-agent save`
# exactly (entries of every kind, owners, modes, ns times, xattrs and ACLs,
# hard links, holes; packs, whole-file objects, a librsync delta), applies
# the delta logs of a save killed after its commit, reads a version 1
# manifest (checksums holes included) that pcm-agent verifies too, and
# refuses what does not check out: a damaged pack, a damaged manifest,
# pending logs ignored, a save in use.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

PY=/usr/bin/python3	# Debian's, with python3-xxhash (not a pyenv one)
"$PY" -c 'import xxhash' 2>/dev/null || skip "python3-xxhash not installed (packaging/install-deps)"
READER=$PCM_TOP/tests/tools/pcm_read.py
[ -f "$READER" ] || fail "no $READER"

cat >>"$PCM_CONF" <<CONF
cluster_name = fmt
delta_min_size = 8M
workers = 2
CONF
loopfs src ext4 200
loopfs tgt xfs 300
loopfs dst ext4 400
S=$T/src TG=$T/tgt D=$T/dst

make_tree "$S"
head -c 24M /dev/urandom >"$S/big"	# large: an object of its own, a signature, deltas
chown 777:888 "$S/big"

read_into() {	# savedir dest: the reader, its output in $OUT, its status in $RC
	set +e
	OUT=$("$PY" "$READER" "$1" "$2" 2>&1)
	RC=$?
	set -e
	echo "$OUT"
}
poke_big() {	# seed: rewrite a few 64 KiB blocks of big in place
	"$PY" - "$S/big" "$1" <<'PY'
import os, random, sys
rnd = random.Random(int(sys.argv[2]))
with open(sys.argv[1], "r+b") as f:
    for _ in range(4):
        f.seek(rnd.randrange(0, (24 << 20) - 65536) & ~4095)
        f.write(os.urandom(65536))
PY
}

# 1. a first save: packs, whole-file objects, a sparse object, every kind of entry
assert_rc 0 pcm save --source "$S" --target "$TG"
SD=$(savedir_of "$TG")
head -n1 "$SD/MANIFEST" | grep -qx 'pcm-agent-manifest 2' || fail "not a version 2 manifest"
grep -q '^f .* [0-9a-f]*@[0-9]* ' "$SD/MANIFEST" || fail "no packed file in the manifest"
read_into "$SD" "$D/r1"
assert_eq "$RC" 0 "reader on the first save"
compare_trees "$S" "$D/r1" sock || fail "the reader's copy of the first save differs"
ok "first save read from FORMAT.md alone: identical (holes, links, xattrs, devices)"

# 2. incremental: big by a librsync delta (its object updated in place), a
# small file changed, one added
poke_big 1
printf 'changed\n' >>"$S/dir/sub/hello.txt"
head -c 70000 /dev/urandom >"$S/new.bin"
assert_rc 0 pcm --json save --source "$S" --target "$TG"
assert_eq "$(echo "$OUT" | sed -n '/^{/,$p' | json_get 'd["files_delta"]')" 1 "big saved by a delta"
ls "$SD"/objects/*/*.sig >/dev/null 2>&1 || fail "no signature: the delta path was not taken"
read_into "$SD" "$D/r2"
assert_eq "$RC" 0 "reader on the incremental save"
compare_trees "$S" "$D/r2" sock || fail "the reader's copy of the incremental save differs"
ok "incremental save with a delta: identical"

# 3. a save killed right after its manifest was committed: the delta log of
# big is pending; the reader applies it to its copy and leaves the save alone
poke_big 2
assert_rc 137 env PCM_TEST_CRASH_AT=save-renamed:1 "$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG"
[ -e "$SD/DELTAS" ] || fail "no DELTAS after a kill at save-renamed"
logs=$(ls "$SD"/objects/*/*.log 2>/dev/null | wc -l)
assert_eq "$logs" 1 "pending delta logs"
read_into "$SD" "$D/r3"
assert_eq "$RC" 0 "reader on a save with a pending delta log"
assert_contains "$OUT" "1 pending delta logs applied" "the reader applied the log"
compare_trees "$S" "$D/r3" sock || fail "the reader's copy with the pending log differs"
assert_eq "$(ls "$SD"/objects/*/*.log 2>/dev/null | wc -l)" 1 "the reader left the log in place"
# the same save with the log ignored (no DELTAS: FORMAT.md 7.2) is old data
cp -a "$SD" "$T/nodeltas" && rm "$T/nodeltas/DELTAS"
read_into "$T/nodeltas" "$D/r3b"
assert_eq "$RC" 1 "reader when the pending log is not applied"
assert_contains "$OUT" "big: checksum mismatch" "old data caught by the checksum"
assert_rc 0 pcm verify --target "$TG"	# finishes the save
[ ! -e "$SD/DELTAS" ] || fail "verify did not finish the save"
ok "a pending delta log applied by the reader (the save untouched); ignored, caught"

# 4. version 1: the same save with every checksum rewritten as version 1
# (holes hashed as zeros, no size suffix), the header 1, the trailer redone:
# pcm-agent verifies it (so FORMAT.md's version 1 and trailer are its own)
# and the reader restores it
cp -a "$TG" "$T/tgt1"
SD1=$(savedir_of "$T/tgt1")
"$PY" - "$SD1/MANIFEST" "$D/r3" "$PCM_TOP/tests/tools" <<'PY'
import os, sys, xxhash
mf, tree = sys.argv[1], os.fsencode(sys.argv[2])
sys.path.insert(0, sys.argv[3])
import pcm_read
meta, ents = pcm_read.read_manifest(os.path.dirname(os.fsencode(mf)))
lines = open(mf, "rb").read().split(b"\n")[:-2]
lines[0] = b"pcm-agent-manifest 1"
def path(i):
    p = []
    while i:
        p.append(ents[i].name)
        i = ents[i].parent
    return os.path.join(tree, *reversed(p))
n = 0
for i, e in enumerate(ents):
    if e.type != "f":
        continue
    f = lines[i + 2].split(b" ")
    with open(path(i), "rb") as fp:
        f[11] = xxhash.xxh3_128(fp.read()).hexdigest().encode()
    f[15] = b"%x" % (e.flags & ~2)
    lines[i + 2] = b" ".join(f)
    n += 1
body = b"\n".join(lines) + b"\n"
open(mf, "wb").write(body + b"end %d %s\n" % (len(ents), xxhash.xxh3_128(body).hexdigest().encode()))
print("rewrote %d checksums as version 1" % n)
PY
assert_rc 0 pcm verify --target "$T/tgt1"
read_into "$SD1" "$D/r4"
assert_eq "$RC" 0 "reader on a version 1 manifest"
compare_trees "$S" "$D/r4" sock || fail "the reader's copy of the version 1 save differs"
ok "version 1 checksums: pcm-agent verifies the rewrite, the reader restores it"

# 5. damage is reported: one byte of a pack, one byte of the manifest, a lock held
cp -a "$SD" "$T/bad"
read -r obj off name < <("$PY" - "$T/bad/MANIFEST" <<'PY'
import sys
for line in open(sys.argv[1], "rb"):
    f = line.split(b" ")
    if f[0] == b"f" and b"@" in f[10] and int(f[7]) > 0:
        o, off = f[10].split(b"@")
        print(int(o, 16), int(off), f[2].decode("latin-1"))
        break
PY
)
[ -n "$obj" ] || fail "no packed file to damage"
pack=$(printf '%s/objects/%02x/%016x' "$T/bad" $((obj & 255)) "$obj")
[ -f "$pack" ] || fail "pack $pack not where FORMAT.md says"
"$PY" -c "
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))
" "$pack" "$off"
read_into "$T/bad" "$D/r5"
assert_eq "$RC" 1 "reader on a damaged pack"
assert_contains "$OUT" "$name: checksum mismatch" "the damaged file named"
assert_contains "$OUT" "is NOT an exact copy" "the reader's verdict"
cp -a "$SD" "$T/badmf"
sed -i '3s/ 0 0 / 0 1 /' "$T/badmf/MANIFEST"	# the root's owner, trailer unchanged
read_into "$T/badmf" "$D/r6"
assert_eq "$RC" 1 "reader on a damaged manifest"
assert_contains "$OUT" "MANIFEST: checksum mismatch" "damaged manifest reported"
[ ! -e "$D/r6" ] || fail "the reader wrote from a damaged manifest"
set +e
OUT=$(flock -x "$SD/lock" "$PY" "$READER" "$SD" "$D/r7" 2>&1)
RC=$?
set -e
assert_eq "$RC" 2 "reader on a save in use"
assert_contains "$OUT" "in use by pcm-agent" "lock held"
ok "a damaged pack, a damaged manifest and a held lock are refused"
