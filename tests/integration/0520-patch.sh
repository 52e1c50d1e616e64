#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# prepare-restart --patch on a cluster, with tests/fakes/pkgmgr as dnf (and
# rpm, needs-restarting) on PATH:
# - --dry-run names the update command with the exclusions, runs nothing;
# - a failing update stops the operation before the restart (no reboot
#   requested, step failed, the reason and the log named); abort undoes it;
# - a hanging update is killed at patch_timeout, with progress lines;
# - no reboot needed (no kernel, no needs-restarting) and no --reboot: the
#   restart is skipped and said so; resume runs at once;
# - a kernel update with --reboot: the reboot is requested; resume reports
#   the new kernel running, and says loudly when the old one still runs;
# - Slurm and munge stay at their versions (patch_exclude);
# - kill -9 at each point of the patch step, then a rerun: the update's
#   result compares with the package list from before the first run;
# - kill -9 while the update runs: it goes on; abort says so and leaves it;
#   the rerun waits for it and does not run a second one beside it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2

mkdir -p "$T/pkgbin" "$T/pkg" "$T/modules"
for n in dnf yum apt-get rpm dpkg-query needs-restarting; do
	ln -s "$PCM_TOP/tests/fakes/pkgmgr" "$T/pkgbin/$n"
done
export PATH=$T/pkgbin:$PATH FAKE_PKG_DIR=$T/pkg
export PCM_TEST_OS_RELEASE=$T/os-release PCM_TEST_MODULES_DIR=$T/modules
export PCM_TEST_REBOOT_REQUIRED=$T/reboot-required PCM_TEST_PATCH_PROGRESS_S=1
printf 'ID="amzn"\nVERSION_ID="2023"\nPRETTY_NAME="Amazon Linux 2023"\n' >"$T/os-release"

fresh_system() {	# UPDATES...: kernel 6.1.1 running; the updates given
	rm -rf "${T:?}/modules/"* "$T/pkg/"*
	mkdir -p "$T/modules/6.1.1"
	touch "$T/modules/6.1.1/modules.dep"
	export PCM_TEST_KERNEL=6.1.1
	printf 'kernel 6.1.1\nopenssl 3.0.1\nslurm 23.02.1\nmunge 0.5.15\n' >"$T/pkg/installed"
	printf '%s\n' "$@" >"$T/pkg/updates"
	unset FAKE_PKG_FAIL FAKE_PKG_HANG
}
version_of() { awk -v n="$1" '$1 == n { v = $2 } END { print v }' "$T/pkg/installed"; }
calls() { [ -f "$T/pkg/calls" ] && grep -c "^dnf .*upgrade" "$T/pkg/calls" || echo 0; }

# --dry-run: the command, nothing run
fresh_system "openssl 3.0.2"
assert_rc 0 pcm prepare-restart --dry-run --patch --no-save --reboot
assert_contains "$OUT" "patch" "dry run lists the patch step"
assert_contains "$OUT" "dnf -y upgrade --security" "dry run: the command"
assert_contains "$OUT" "--exclude=slurm*" "dry run: the exclusions"
assert_eq "$(calls)" 0 "dry run ran the update"
assert_rc_out 0 pcm prepare-restart --dry-run --patch --no-save --reboot --json
assert_contains "$(echo "$OUT" | json_get 'd["patch"]')" "dnf -y upgrade" "--json: the command"
# patch = yes in the config: the same as --patch; without either: no patch step
assert_rc 0 pcm prepare-restart --dry-run --no-save --reboot
assert_not_contains "$OUT" "dnf" "no patch step without --patch"
echo "patch = yes" >>"$PCM_CONF"
assert_rc 0 pcm prepare-restart --dry-run --no-save --reboot
assert_contains "$OUT" "dnf -y upgrade --security" "patch = yes"
sed -i '/^patch = yes/d' "$PCM_CONF"
assert_eq "$(calls)" 0 "dry run ran the update"
# an unknown system without patch_command: refused in preflight
printf 'ID=arch\n' >"$T/os-release"
assert_rc 1 pcm prepare-restart --dry-run --patch --no-save --reboot
assert_contains "$OUT" "set patch_command" "unknown distribution"
printf 'ID="amzn"\nVERSION_ID="2023"\n' >"$T/os-release"

# a failing update: no restart, abort undoes the rest
fresh_system "openssl 3.0.2" "kernel 6.1.2"
export FAKE_PKG_FAIL=1
assert_rc 1 pcm prepare-restart --patch --no-save --reboot --force --yes
assert_contains "$OUT" "the OS update failed: dnf exited 1" "the failure"
assert_contains "$OUT" "$T/state/patch.log" "the log is named"
assert_eq "$(plan_journal_step patch)" failed "journal: patch"
assert_eq "$(plan_journal_step restart)" pending "journal: no restart after a failed update"
[ -z "$(json_get 'd["data"].get("restart_boot_id", "")' <"$T/state/journal.json")" ] ||
	fail "a restart was requested after the failed update"
assert_contains "$(cat "$T/state/patch.log")" "Transaction failed" "the update's output in the log"
assert_rc 0 pcm abort
assert_eq "$(plan_fleet)" RUNNING "fleet after abort"
assert_eq "$(plan_resv)" no "reservation after abort"

# a hanging update: killed at patch_timeout, progress shown
fresh_system "openssl 3.0.2"
export FAKE_PKG_HANG=60
echo "patch_timeout = 3s" >>"$PCM_CONF"
start=$(date +%s)
assert_rc 1 pcm prepare-restart --patch --no-save --reboot --force --yes
[ $(($(date +%s) - start)) -lt 30 ] || fail "the hanging update was not killed in time"
assert_contains "$OUT" "timed out after" "timeout message"
assert_contains "$OUT" "patch: 0m0" "progress line"
assert_contains "$OUT" "Downloading" "progress line shows the output"
assert_eq "$(plan_journal_step restart)" pending "no restart after a timeout"
assert_rc 0 pcm abort
sed -i '/^patch_timeout/d' "$PCM_CONF"

# no reboot needed, no --reboot: the restart is skipped, resume at once
fresh_system "openssl 3.0.2" "slurm 23.11.0" "munge 0.5.16"
assert_rc 0 pcm prepare-restart --patch --no-save --force --yes
assert_contains "$OUT" "no reboot needed" "said so"
assert_eq "$(plan_journal_step patch)" done "journal: patch"
assert_eq "$(plan_journal_step restart)" skipped "journal: restart skipped"
assert_eq "$(version_of openssl)" 3.0.2 "openssl updated"
assert_eq "$(version_of slurm)" 23.02.1 "slurm left alone (patch_exclude)"
assert_eq "$(version_of munge)" 0.5.15 "munge left alone (patch_exclude)"
assert_contains "$(cat "$T/pkg/calls")" "--exclude=munge*" "exclusions passed to dnf"
assert_rc 0 pcm resume
assert_contains "$OUT" "summary: the cluster is back" "resume after a skipped restart"
assert_eq "$(plan_fleet)" RUNNING "fleet after resume"

# a kernel update with --reboot: requested; resume reports the kernel
fresh_system "openssl 3.0.2" "kernel 6.1.2"
assert_rc 0 pcm prepare-restart --patch --no-save --reboot --force --yes
assert_contains "$OUT" "kernel 6.1.2" "the new kernel named"
assert_eq "$(plan_journal_step restart)" done "restart requested"
assert_eq "$(json_get 'd["data"]["patch"]["reboot_needed"]' <"$T/state/journal.json")" True \
	"journal: reboot needed"
PCM_TEST_BOOT_ID=after-patch PCM_TEST_KERNEL=6.1.2 assert_rc 0 pcm resume
assert_contains "$OUT" "kernel 6.1.2 runs" "resume reports the new kernel"
assert_contains "$OUT" "; OS update: kernel 6.1.2 runs" "in the summary (and the wall message)"

# the same, but the old kernel came back up: said loudly
fresh_system "kernel 6.1.3"
assert_rc 0 pcm prepare-restart --patch --no-save --reboot --force --yes
PCM_TEST_BOOT_ID=after-patch-2 PCM_TEST_KERNEL=6.1.1 assert_rc 0 pcm resume
assert_contains "$OUT" "NOT the 6.1.3" "resume says the new kernel does not run"

# Ubuntu: apt-get update + upgrade, Slurm pinned, reboot-required honoured
printf 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="22.04"\n' >"$T/os-release"
fresh_system "openssl 3.0.2" "slurm 23.11.0"
touch "$T/reboot-required"
assert_rc 0 pcm prepare-restart --patch --no-save --no-restart --force --yes
assert_contains "$(cat "$T/pkg/calls")" "apt-get -q update" "apt-get update first"
assert_contains "$(cat "$T/pkg/calls")" "Dir::Etc::Preferences=$T/state/patch-apt-preferences" \
	"apt-get upgrade with the pins of the run"
assert_eq "$(version_of openssl)" 3.0.2 "apt: openssl updated"
assert_eq "$(version_of slurm)" 23.02.1 "apt: slurm pinned (patch_exclude)"
assert_contains "$OUT" "reboot needed ($T/reboot-required exists)" "apt: reboot-required"
assert_eq "$(plan_journal_step restart)" done "apt: a reboot is needed: the restart step runs"
assert_rc 0 pcm abort
rm -f "$T/reboot-required"
printf 'ID="amzn"\nVERSION_ID="2023"\n' >"$T/os-release"

# kill -9 at every point of the patch step, then a rerun
fresh_system "openssl 3.0.2"
for p in plan-patch-begin:1 plan-patch-acted:1 plan-patch-end:1; do
	rc=0
	PCM_TEST_CRASH_AT=$p "$PCM" -c "$PCM_CONF" prepare-restart --patch --no-save --reboot \
		--force --yes >"$T/crash.out" 2>&1 || rc=$?
	[ "$rc" -eq 137 ] || fail "PCM_TEST_CRASH_AT=$p exited $rc, want 137: $(cat "$T/crash.out")"
done
assert_rc 0 pcm prepare-restart --patch --no-save --reboot --force --yes
assert_eq "$(plan_journal_step patch)" done "journal: patch after the kills"
assert_eq "$(json_get '[u["name"] for u in d["data"]["patch"]["updated"]]' <"$T/state/journal.json")" \
	"['openssl.x86_64']" "the update compared with the list before the first run"
assert_eq "$(calls)" 2 "the update ran again only after the kill after it (acted)"
assert_rc 0 pcm abort

# pcm-agent killed while the update runs: the package manager goes on in
# its own process group; a rerun waits for it, never starts a second one
fresh_system "openssl 3.0.2"
FAKE_PKG_HANG=6 "$PCM" -c "$PCM_CONF" prepare-restart --patch --no-save --reboot --force \
	--yes >"$T/killed.out" 2>&1 &
kpid=$!
wait_for 20 "the update to start" grep -q "^dnf .*upgrade" "$T/pkg/calls"
kill -9 "$kpid"
wait "$kpid" 2>/dev/null || true
pgrep -f "$T/pkgbin/dnf" >/dev/null || fail "the update died with pcm-agent"
assert_rc 0 pcm abort
assert_contains "$OUT" "still runs: abort does not stop it" "abort says the update still runs"
pgrep -f "$T/pkgbin/dnf" >/dev/null || fail "abort stopped the update"
assert_rc 0 pcm prepare-restart --patch --no-save --reboot --force --yes
assert_contains "$OUT" "still runs: waiting for it to end" "the rerun waits for the earlier update"
assert_contains "$OUT" "waiting for the OS update of an earlier run" "progress while waiting"
assert_not_contains "$(cat "$T/pkg/calls")" OVERLAP "a second update beside the first"
pgrep -f "$T/pkgbin/dnf" >/dev/null && fail "an update still runs after the rerun"
[ ! -e "$T/state/patch.pid" ] || fail "patch.pid left after the update ended"
assert_eq "$(version_of openssl)" 3.0.2 "openssl updated"
assert_eq "$(plan_journal_step patch)" done "journal: patch done after the wait"
ok "patch: dry run, failure, timeout, no reboot, kernel, crashes"
