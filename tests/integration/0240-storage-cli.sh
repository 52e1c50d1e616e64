#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The storage commands as an admin uses them: targets from mountinfo,
# defaults from the config, the naming of the save (cluster from slurm.conf,
# else the host name), the lock (exit 6), --json, --pre-stage, changed
# files, no save, a damaged save named by verify and restore.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

loopfs scratch ext4 100
loopfs efs xfs 300
S=$T/scratch E=$T/efs
# a mountinfo where $S is the ParallelCluster ephemeral volume and $E an EFS
cat >"$T/mountinfo" <<MI
22 1 259:1 / / rw,noatime - ext4 /dev/nvme0n1p1 rw
40 22 253:0 / $S rw,noatime - ext4 /dev/mapper/vg.01-lv_ephemeral rw
41 22 0:50 / $E rw,relatime - nfs4 fs-0123456789abcdef0.efs.us-east-1.amazonaws.com:/ rw,vers=4.1
42 22 0:24 / /run rw,nosuid,nodev - tmpfs tmpfs rw,mode=755
MI
cat >"$T/slurm.conf" <<SC
# a comment
ClusterName=slurmclu
SlurmctldHost=localhost
SC
cat >>"$PCM_CONF" <<CONF
mountinfo = $T/mountinfo
ephemeral_dir = $S
slurm_conf = $T/slurm.conf
CONF

assert_rc 0 pcm targets
assert_contains "$OUT" "$E" "targets lists the EFS"
assert_contains "$OUT" "efs" "type efs"
assert_contains "$OUT" "ephemeral volume" "ephemeral refused"
assert_contains "$OUT" "save would go to: $E" "chosen target"
assert_rc 0 pcm targets --json
echo "$OUT" | json_get 'd["chosen"]' | grep -qx "$E" || fail "targets --json chosen"
[ "$(echo "$OUT" | json_get '[t["type"] for t in d["targets"] if t["mount"]=="'"$E"'"][0]')" = efs ] ||
	fail "targets --json type"
[ "$(echo "$OUT" | json_get '[t["fits"] for t in d["targets"] if t["mount"]=="'"$E"'"][0]')" = True ] ||
	fail "targets --json fits"

# save with every default: /scratch -> EFS/pcm-agent/<ClusterName>/<host>
make_tree "$S"
host=$(hostname)
assert_rc 0 pcm save
assert_contains "$OUT" "saved $S to $E/pcm-agent/slurmclu/$host:" "default source, target and name"
# cluster_name in the config wins over slurm.conf
assert_rc 0 pcm --json save --pre-stage
sd=$E/pcm-agent/slurmclu/$host
assert_eq "$(echo "$OUT" | sed -n '/^{/,$p' | json_get 'd["savedir"]')" "$sd" "json savedir"
assert_eq "$(echo "$OUT" | sed -n '/^{/,$p' | json_get 'd["files_copied"]')" 0 "nothing to copy"
assert_rc 0 pcm verify
assert_contains "$OUT" "verified $sd" "verify default"

# the lock: another operation holds the state-dir lock -> exit 6
mkdir -p "$T/state"
flock -o "$T/state/lock" sleep 30 &
holder=$!
at_exit "kill $holder"
wait_for 5 "the lock holder" sh -c "! flock -n $T/state/lock true"
assert_rc 6 pcm save
assert_contains "$OUT" "holds the lock" "lock message"
assert_rc 6 pcm restore
kill $holder; wait $holder 2>/dev/null || true

# a file that changes while it is read: named, exit 1; --pre-stage: exit 0
# (40 MB of data: a sparse file no longer takes a while, its holes are
# not hashed; the writer appends without a pause)
head -c 40M /dev/urandom >"$S/growing"
assert_rc 0 pcm save
( for i in $(seq 200000); do echo "$i" >>"$S/growing"; done ) &
writer=$!
at_exit "kill $writer"
sleep 0.2
rc=0; pcm save >"$T/changed.log" 2>&1 || rc=$?
cat "$T/changed.log"
grep -q "growing changed while it was saved" "$T/changed.log" || fail "changed file not named"
assert_eq $rc 1 "save with a changed file"
grep -q "files changed while they were read" "$T/changed.log" || fail "summary of changes"
kill $writer; wait $writer 2>/dev/null || true
# it is recorded: the next save copies it again
assert_rc 0 pcm --json save
[ "$(echo "$OUT" | sed -n '/^{/,$p' | json_get 'd["files_copied"]')" -ge 1 ] || fail "changed file not copied again"
( for i in $(seq 200000); do echo "$i" >>"$S/growing"; done ) &
writer=$!
at_exit "kill $writer"
sleep 0.2
assert_rc 0 pcm save --pre-stage
kill $writer; wait $writer 2>/dev/null || true
ok "changed files: named and exit 1, or recorded under --pre-stage"

# restore with defaults onto a new volume; the save is found although the
# instance id (host name here) differs: the only save of the cluster
rm -f "$S/growing"
assert_rc 0 pcm save
cp -a "$S" "$T/ref"
wipefs_new scratch
mv "$sd" "$E/pcm-agent/slurmclu/i-0previous"
assert_rc 0 pcm restore
assert_contains "$OUT" "restored $E/pcm-agent/slurmclu/i-0previous into $S" "restore found the save"
compare_trees "$T/ref" "$S" sock || fail "default restore differs"
# --from may name the save directory itself
assert_rc 0 pcm verify --target "$E/pcm-agent/slurmclu/i-0previous"

# a target mounted read-only (to protect the save): verify and restore work
mount -o remount,ro "$E"
assert_rc 0 pcm verify
rm -rf "$T/ro-out"
assert_rc 0 pcm restore --to "$T/ro-out"
compare_trees "$T/ref" "$T/ro-out" sock || fail "restore from a read-only target differs"
mount -o remount,rw "$E"
ok "verify and restore from a read-only target"

# damage: verify and restore name the file and exit 1, never "verified"
obj=$(python3 -c '
import sys
for l in open(sys.argv[1]):
    f = l.split()
    if f[0] == "f" and f[2] == "random.bin":
        o = int(f[10], 16); print("%02x/%016x" % (o % 256, o))
' "$E/pcm-agent/slurmclu/i-0previous/MANIFEST")
[ -n "$obj" ] || fail "no object for random.bin"
python3 - "$E/pcm-agent/slurmclu/i-0previous/objects/$obj" <<'PY'	# invert 2 bytes: a change, always
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1000); b = f.read(2); f.seek(1000); f.write(bytes(x ^ 255 for x in b))
PY
assert_rc 1 pcm verify
assert_contains "$OUT" "dir/random.bin: checksum mismatch" "verify names the file"
assert_not_contains "$OUT" "every checksum matches" "no false verified"
rm -rf "$T/out"
assert_rc 1 pcm restore --to "$T/out"
assert_contains "$OUT" "dir/random.bin: checksum mismatch" "restore names the file"
assert_not_contains "$OUT" "all checksums verified" "no false verified"

# no save at all
rm -rf "$E/pcm-agent"
assert_rc 1 pcm restore --to "$T/out"
assert_contains "$OUT" "no save of cluster slurmclu under $E" "restore without a save"
assert_rc 1 pcm verify
ok "storage commands"
