#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kill -9 at every named point of save and restore (PCM_TEST_CRASH_AT), and
# at random moments: afterwards the target holds the old or the new save,
# complete and verified, and the same command run again finishes the job.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

cat >>"$PCM_CONF" <<CONF
cluster_name = crash
workers = 2
CONF
loopfs src ext4 200
loopfs tgt ext4 300
S=$T/src TG=$T/tgt
make_tree "$S"
for i in $(seq 30); do head -c $((i * 3000)) /dev/urandom >"$S/dir/small$i"; done

assert_rc 0 pcm save --source "$S" --target "$TG"
SD=$(savedir_of "$TG")
cp -a "$S" "$T/ref1"
tar -C "$TG" -cSf "$T/save1.tar" pcm-agent
m1=$(sha256sum <"$SD/MANIFEST")

# v2: changed, added, removed
(cd "$S" && echo v2 >>dir/sub/hello.txt && echo v2 >>"dir with space/f" &&
 echo v2 >>dir/random.bin && printf y | dd of=sparse.img bs=1 seek=100 conv=notrunc status=none)
(cd "$S" && rm dir/small3 dir/small4 && head -c 200000 /dev/urandom >dir/small5 &&
 for i in $(seq 10); do head -c 5000 /dev/urandom >"dir/new$i"; done)
cp -a "$S" "$T/ref2"

restore_and_compare() {	# ref
	rm -rf "$T/out" && mkdir "$T/out"
	assert_rc 0 pcm restore --from "$TG" --to "$T/out"
	compare_trees "$1" "$T/out" sock >"$T/cmp.log" 2>&1
}

# save: every point, a few passages each
for pt in save-object:1 save-object:7 save-object:14 save-synced:1 save-manifest:1 \
    save-renamed:1 save-gc:1 save-gc:3; do
	rm -rf "$TG/pcm-agent" && tar -C "$TG" -xf "$T/save1.tar"
	assert_rc 137 env PCM_TEST_CRASH_AT=$pt "$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG"
	# old or new, complete and verified
	assert_rc 0 pcm verify --target "$TG"
	if [ "$(sha256sum <"$SD/MANIFEST")" = "$m1" ]; then
		restore_and_compare "$T/ref1" || { cat "$T/cmp.log"; fail "$pt: old save damaged"; }
		state=old
	else
		restore_and_compare "$T/ref2" || { cat "$T/cmp.log"; fail "$pt: new save damaged"; }
		state=new
	fi
	case $pt in save-renamed*|save-gc*) assert_eq $state new "state after $pt" ;;
	*) assert_eq $state old "state after $pt" ;; esac
	# the same command again finishes the job
	assert_rc 0 pcm save --source "$S" --target "$TG"
	assert_rc 0 pcm verify --target "$TG"
	restore_and_compare "$T/ref2" || { cat "$T/cmp.log"; fail "$pt: save after the crash"; }
	objects_match "$SD" || fail "$pt: leftover objects not collected"
	[ ! -e "$SD/MANIFEST.tmp" ] || fail "$pt: MANIFEST.tmp left behind"
	ok "save killed at $pt: $state save intact, re-run complete"
done

# restore: killed at every point into a fresh volume, then run again
for pt in restore-entry:1 restore-entry:9 restore-entry:60 restore-file:1 restore-file:12 \
    restore-dirmeta:1 restore-dirmeta:20; do
	wipefs_new src
	assert_rc 137 env PCM_TEST_CRASH_AT=$pt "$PCM" -c "$PCM_CONF" restore --from "$TG" --to "$S"
	assert_rc 0 pcm restore --from "$TG" --to "$S"
	compare_trees "$T/ref2" "$S" sock >"$T/cmp.log" 2>&1 || { cat "$T/cmp.log"; fail "restore after $pt"; }
	ok "restore killed at $pt, re-run identical"
done

# kill -9 at random moments of a save with more data
head -c 80M /dev/urandom >"$S/big1"
cp "$S/big1" "$S/big2" && echo x >>"$S/big2"
for delay in 0.05 0.2 0.4 0.7; do
	"$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG" >/dev/null 2>&1 &
	pid=$!
	sleep $delay
	kill -9 $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	assert_rc 0 pcm verify --target "$TG"
	echo more >>"$S/big2"
done
assert_rc 0 pcm save --source "$S" --target "$TG"
assert_rc 0 pcm verify --target "$TG"
ok "random kills during a save"

# A clean save removes by name the objects its manifest replaced and never
# lists objects/ (256 directories); SAVING marks a run that may leave some,
# and the run after it scans.
# traced_save WHAT: a save under strace; N = its getdents64 calls on
# objects/XX directories (the source's are not counted)
# (LeakSanitizer cannot run under ptrace: off for these runs of make asan)
traced_save() {
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -y -e trace=getdents64 -o "$T/gd.trace" "$PCM" -c "$PCM_CONF" save \
		--source "$S" --target "$TG" >"$T/out.log" 2>&1 || fail "$1: $(cat "$T/out.log")"
	N=$(grep -c 'getdents64([0-9]*<[^>]*/objects/[0-9a-f][0-9a-f]>' "$T/gd.trace" || true)
}
echo v3 >>"$S/dir/small5" && echo v3 >>"$S/big1"
traced_save "save"
[ "$N" -eq 0 ] || fail "a clean save listed objects/: $N getdents64 calls"
[ ! -e "$SD/SAVING" ] || fail "SAVING left by a clean save"
objects_match "$SD" || fail "objects after a clean save"
echo v4 >>"$S/dir/small5"
assert_rc 137 env PCM_TEST_CRASH_AT=save-object:1 "$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG"
[ -e "$SD/SAVING" ] || fail "no SAVING after a save killed while it made objects"
# objects/XX are made when a first object goes there: the scan lists each
# that exists (twice: entries, then the end)
ndirs=$(find "$SD/objects" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$ndirs" -ge 2 ] || fail "only $ndirs objects/XX directories: the test needs more objects"
traced_save "save after the crash"
[ "$N" -ge $((2 * ndirs)) ] ||
	fail "the save after a crash did not scan objects/ ($N getdents64 calls, $ndirs directories)"
[ ! -e "$SD/SAVING" ] || fail "SAVING left after the clean-up"
objects_match "$SD" || fail "objects left by the killed save"
assert_rc 0 pcm verify --target "$TG"
ok "clean saves delete by name; after a crash the next save scans ($N getdents64)"
