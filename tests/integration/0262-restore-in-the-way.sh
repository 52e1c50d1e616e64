#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 11, items 3 and 4.
# 3: whatever a user puts in the destination, restore completes (exit 0)
#    and moves it aside, never followed, into a root-only quarantine on the
#    destination volume named in the summary and in --json: a non-empty
#    directory where the save has a file, a FIFO where it has a directory,
#    a symlink to outside where it has a file, and a planted
#    .pcm-agent-quarantine (a symlink to the attacker's directory), which
#    is itself moved aside instead of used; a user's mount where the save
#    has a directory is detached and what was under it moved aside.
# 4: where chown fails (NFS with root squash, simulated by an LD_PRELOAD
#    shim), no setuid/setgid bit is applied and the restore says so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"
command -v cc >/dev/null || skip "no C compiler (the chown shim)"

hostile_bed intheway

mkdir -p "$S/projects/p1" "$S/bin"
printf 'top data\n' >"$S/alice-top.dat"
printf 'report\n' >"$S/report.txt"
for i in $(seq 20); do printf 'p %d\n' "$i" >"$S/projects/p1/f$i"; done
head -c 5000 /dev/urandom >"$S/bin/tool"
chmod 4755 "$S/bin/tool"
chmod 2775 "$S/projects"
chmod 1777 "$S"
assert_rc 0 pcm save --source "$S" --target "$TG"
cp -a "$S" "$T/ref"

# --- 3: things in the way ------------------------------------------------
chmod 1777 "$D"
mkdir -m 777 "$T/outside"
echo untouched >"$T/outside/victim"
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups sh -c "
	mkdir -p '$D/alice-top.dat/x' && echo planted >'$D/alice-top.dat/x/y' &&
	mkfifo '$D/projects' &&
	ln -s '$T/outside/victim' '$D/report.txt' &&
	mkdir '$T/outside/q' && ln -s '$T/outside/q' '$D/.pcm-agent-quarantine'" ||
	fail "the attacker could not plant"
# a mount of theirs where the save has a directory (as FUSE lets a user
# mount on a directory they own; here a bind mount of a directory of theirs)
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups mkdir "$D/bin" "$T/outside/m"
mount --bind "$T/outside/m" "$D/bin"
at_exit "umount -l $D/bin 2>/dev/null"
assert_rc 0 pcm --json restore --from "$TG" --to "$D"
json=$(echo "$OUT" | sed -n '/^{/,$p')
q=$(echo "$json" | json_get 'd["quarantine"]')
assert_eq "$(echo "$json" | json_get 'd["ok"]')" True "restore ok"
assert_eq "$(echo "$json" | json_get 'd["quarantined"]')" 5 "entries moved aside"
assert_contains "$OUT" "a mount was in the way: detached" "the mount named"
assert_eq "$(ls -A "$T/outside/m")" "" "written into the user's mount"
findmnt "$D/bin" >/dev/null && fail "the user's mount is still there"
case $q in "$D/.pcm-agent-quarantine/"*) ;; *) fail "quarantine not on the destination: $q" ;; esac
[ -d "$D/.pcm-agent-quarantine" ] && [ ! -L "$D/.pcm-agent-quarantine" ] || fail "quarantine is a link"
assert_eq "$(stat -c '%u %a' "$D/.pcm-agent-quarantine")" "0 700" "quarantine owner and mode"
assert_eq "$(stat -c '%u %a' "$q")" "0 700" "this operation's quarantine"
assert_eq "$(ls -A "$T/outside/q")" "" "something went through the planted quarantine link"
assert_eq "$(cat "$T/outside/victim")" untouched "written through a planted symlink"
[ -L "$q/000000-.pcm-agent-quarantine" ] || fail "the planted quarantine link was not moved aside: $(ls -la "$q")"
[ -f "$q"/*-alice-top.dat/x/y ] || fail "the planted directory is not in the quarantine: $(ls -la "$q")"
[ -p "$q"/*-projects ] || fail "the planted FIFO is not in the quarantine"
[ -L "$q"/*-report.txt ] || fail "the planted symlink is not in the quarantine"
[ "$(stat -c %U "$q"/*-bin)" = nobody ] || fail "the directory under the mount is not in the quarantine"
mv "$D/.pcm-agent-quarantine" "$T/moved-q"
touch -r "$T/ref" "$D"
compare_trees "$T/ref" "$D" >"$T/cmp.log" || { cat "$T/cmp.log"; fail "restore with things in the way"; }
ok "a non-empty directory, a FIFO, a symlink and a planted quarantine in the way: moved aside, restored"

# the text summary names it too
rm -rf "$D"/* "$D"/.pcm* 2>/dev/null || true
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups mkdir -p "$D/alice-top.dat/x"
assert_rc 0 pcm restore --from "$TG" --to "$D"
assert_contains "$OUT" "moved aside 1 entries that were in the way to $D/.pcm-agent-quarantine/" "summary"

# the quarantine (root's) is never saved again; a user's directory of the
# same name at a lower level is saved like any other
[ -d "$D/.pcm-agent-quarantine" ] || fail "no quarantine after the restore"
mkdir -p "$D/sub/.pcm-agent-quarantine" && echo keep >"$D/sub/.pcm-agent-quarantine/f"
js=$(pcm --json save --source "$D" --target "$T/resave" 2>"$T/resave.err") ||
	fail "save of the restored tree: $(cat "$T/resave.err")"
assert_eq "$(printf '%s' "$js" | json_get 'd["excluded"]')" 1 "entries left out of the re-save"
assert_rc 0 pcm ls --from "$T/resave" -R
assert_not_contains "$OUT" " .pcm-agent-quarantine" "the quarantine was saved"
assert_contains "$OUT" "sub/.pcm-agent-quarantine" "a lower directory of that name was not saved"
ok "the quarantine is never saved, a lower directory of that name is"

# --- 4: chown refused: no setuid/setgid ------------------------------------
cat >"$T/nochown.c" <<'C'
#include <errno.h>
#include <sys/types.h>
static int no(void) { errno = EPERM; return -1; }
int fchown(int fd, uid_t u, gid_t g) { (void)fd; (void)u; (void)g; return no(); }
int fchownat(int d, const char *p, uid_t u, gid_t g, int f) { (void)d; (void)p; (void)u; (void)g; (void)f; return no(); }
int lchown(const char *p, uid_t u, gid_t g) { (void)p; (void)u; (void)g; return no(); }
int chown(const char *p, uid_t u, gid_t g) { (void)p; (void)u; (void)g; return no(); }
C
cc -shared -fPIC -o "$T/nochown.so" "$T/nochown.c" || fail "cannot build the shim"
wipefs_new dst
rc=0
LD_PRELOAD=$T/nochown.so ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	"$PCM" -c "$PCM_CONF" restore --from "$TG" --to "$D" >"$T/squash.log" 2>&1 || rc=$?
cat "$T/squash.log"
assert_eq $rc 0 "restore where chown fails"
assert_eq "$(stat -c %a "$D/bin/tool")" 755 "setuid applied without the owner"
assert_eq "$(stat -c %a "$D/projects")" 775 "setgid applied without the owner"
grep -q "bin/tool: cannot set its owner.*without its setuid/setgid bits" "$T/squash.log" ||
	fail "the lost setuid bit is not named"
ok "chown refused: no setuid/setgid bit applied, named"
