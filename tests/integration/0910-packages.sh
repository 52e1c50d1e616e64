#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The packages, built once and checked together:
# - `packaging/mkpkg deb` (what `make deb` runs) builds a .deb; lintian finds
#   no error and no warning in it;
# - `packaging/mkpkg rpm` builds an RPM with the same files as the .deb
#   (rpm -qlp against dpkg -c), the same conffile and the 0700 state dir;
# - the .deb installs with dpkg into a throwaway root (an overlay over / whose
#   writes go to a temp dir), `pcm-agent --version` runs from it, both units
#   are enabled and pass `systemd-analyze verify` there (binaries and man
#   pages found); `dpkg --purge` then leaves nothing behind but the state dir.
. "$(dirname "$0")/lib.sh"

for t in dpkg-buildpackage dh lintian rpmbuild rpm systemd-analyze; do
	command -v "$t" >/dev/null || skip "$t not installed (packaging/install-deps)"
done
need_root
version=$(sed -n 's/^#define PCM_VERSION "\(.*\)"$/\1/p' "$PCM_TOP/agent/pcm.h")
plugindir=/usr/lib/$(gcc -print-multiarch)/slurm-wlm
unset SLURM_PREFIX SLURM_PLUGINDIR

# -- build both (the RPM for Debian's Slurm layout, so the paths compare) ----
"$PCM_TOP/packaging/mkpkg" deb "$T/pkg" >"$T/log/deb.log" 2>&1 || fail "make deb: $(tail -n 30 "$T/log/deb.log")"
# Debian's rpm has no systemd scriptlet macros: stand-ins that name what
# Fedora's would do, so the scriptlets can be checked below.
"$PCM_TOP/packaging/mkpkg" rpm "$T/pkg" --define 'slurm_prefix /usr' \
	--define "slurm_plugindir $plugindir" \
	--define 'systemd_post() echo preset %*' --define 'systemd_preun() echo stop %*' \
	--define 'systemd_postun_with_restart() echo try-restart %*' \
	--define 'systemd_postun() echo daemon-reload %*' >"$T/log/rpm.log" 2>&1 ||
	fail "make rpm: $(tail -n 30 "$T/log/rpm.log")"
deb=$(ls "$T"/pkg/pcm-agent_"$version"_*.deb)
rpmf=$(ls "$T"/pkg/pcm-agent-"$version"-*.rpm)
ok "built $(basename "$deb") and $(basename "$rpmf")"

# -- lintian: no error, no warning --------------------------------------------
lrc=0
lintian --allow-root "$deb" >"$T/lintian.txt" 2>&1 || lrc=$?
# 0 clean, 1 tags found (checked below); anything else: lintian itself failed
[ $lrc -le 1 ] || fail "lintian could not check $(basename "$deb") (exit $lrc): $(tail -n 5 "$T/lintian.txt")"
if grep -E '^[EW]: ' "$T/lintian.txt"; then
	fail "lintian: errors or warnings in $(basename "$deb")"
fi
ok "lintian clean"

# -- same files in both packages ----------------------------------------------
# Normalised: Debian's units are in /lib, the RPM's in /usr/lib; man pages are
# compressed by one and maybe not the other; docs, lintian overrides and
# build-id links are each format's own.
norm() { sed -e 's|^\./|/|' -e 's|^/lib/systemd/|/usr/lib/systemd/|' -e 's|\.gz$||' |
	grep -v -e '^/usr/share/doc/' -e '^/usr/share/licenses/' -e '^/usr/share/lintian/' \
		-e '^/usr/lib/\.build-id/' | LC_ALL=C sort; }
# (listings go to files first: grep -q at the end of a pipe under pipefail
# can fail the pipe with SIGPIPE)
dpkg-deb -c "$deb" >"$T/deb.list"
rpm -qlpv "$rpmf" >"$T/rpm.list" 2>/dev/null
dpkg-deb -x "$deb" "$T/x"
awk '$1 !~ /^d/ { print $6 }' "$T/deb.list" | norm >"$T/deb.files"
awk '$1 !~ /^d/ { print $9 }' "$T/rpm.list" | norm >"$T/rpm.files"
grep -qx /usr/sbin/pcm-agent "$T/deb.files" || fail "no /usr/sbin/pcm-agent in the .deb"
for f in /etc/pcm-agent/pcm-agent.conf /usr/lib/systemd/system/pcm-agent.service \
	/usr/lib/systemd/system/pcm-agent-resume.service /usr/share/man/man8/pcm-agent.8 \
	/usr/share/man/man5/pcm-agent.conf.5 /usr/share/man/man8/spank_pcm.8 \
	/usr/libexec/pcm-agent/epilog-slurmctld /usr/libexec/pcm-agent/prolog-slurmctld; do
	grep -qx "$f" "$T/deb.files" || fail "$f missing from the .deb"
done
# what other parts of the tree provide, once they exist
if [ -f "$PCM_TOP/packaging/iam/pcm-agent-policy.json" ]; then
	grep -qx /usr/share/pcm-agent/pcm-agent-policy.json "$T/deb.files" || fail "IAM policy missing from the .deb"
fi
if [ -f "$PCM_TOP/slurm-plugin/spank_pcm.c" ]; then
	grep -qx "$plugindir/spank_pcm.so" "$T/deb.files" || fail "$plugindir/spank_pcm.so missing from the .deb"
fi
if [ -f "$PCM_TOP/packaging/plugstack.conf.d/pcm.conf" ]; then
	[ -f "$T/x/usr/share/pcm-agent/plugstack-pcm.conf" ] || fail "plugstack-pcm.conf missing from the .deb"
	grep -q "^optional $plugindir/spank_pcm.so" "$T/x/usr/share/pcm-agent/plugstack-pcm.conf" ||
		fail "the shipped plugstack line does not name $plugindir/spank_pcm.so"
fi
diff -u "$T/deb.files" "$T/rpm.files" >"$T/files.diff" ||
	fail "the .deb and the RPM ship different files:
$(cat "$T/files.diff")"
# the licence, each in its format's place
grep -q '\./usr/share/doc/pcm-agent/copyright$' "$T/deb.list" || fail "no copyright file in the .deb"
grep -q '/usr/share/licenses/pcm-agent[^/]*/COPYING$' "$T/rpm.list" || fail "no COPYING in the RPM"
grep -q '^drwx------ root/root .* \./var/lib/pcm-agent/$' "$T/deb.list" ||
	fail "the .deb has no 0700 /var/lib/pcm-agent"
grep -q '^drwx------ .* root  *root .* /var/lib/pcm-agent$' "$T/rpm.list" ||
	fail "the RPM has no 0700 /var/lib/pcm-agent"
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/pcm-agent/pcm-agent.conf ] || fail "deb conffiles"
# the config may hold webhook credentials: root's alone to read
grep -q '^-rw-r----- root/root .* \./etc/pcm-agent/pcm-agent\.conf$' "$T/deb.list" ||
	fail "the .deb config is not 0640 root:root: $(grep pcm-agent.conf "$T/deb.list")"
grep -q '^-rw-r----- .* root  *root .* /etc/pcm-agent/pcm-agent\.conf$' "$T/rpm.list" ||
	fail "the RPM config is not 0640 root:root: $(grep pcm-agent.conf "$T/rpm.list")"
[ "$(rpm -qpc "$rpmf" 2>/dev/null)" = /etc/pcm-agent/pcm-agent.conf ] || fail "rpm config files"
# the resume unit is enabled, never started by an install or an upgrade
# (it would run `pcm-agent resume` in the middle of a prepared restart)
dpkg-deb -e "$deb" "$T/ctrl"
grep -q "deb-systemd-invoke.*pcm-agent\.service" "$T/ctrl/postinst" || fail "postinst does not start the watch daemon"
if grep -n "deb-systemd-invoke.*pcm-agent-resume" "$T/ctrl/postinst"; then
	fail "postinst starts pcm-agent-resume.service"
fi
rpm -qp --scripts "$rpmf" >"$T/rpm.scripts" 2>/dev/null
grep -q "try-restart pcm-agent.service" "$T/rpm.scripts" || fail "the RPM does not restart the watch daemon on upgrade"
if grep -n "start.*pcm-agent-resume" "$T/rpm.scripts"; then
	fail "the RPM scriptlets (re)start pcm-agent-resume.service"
fi
# RPM requirements: the libraries, but never libslurm (ParallelCluster's is no RPM)
rpmreq=$(rpm -qpR "$rpmf" 2>/dev/null)
assert_contains "$rpmreq" "libcurl.so.4()" "RPM Requires"
assert_not_contains "$rpmreq" "libslurm" "RPM Requires"
# real dependencies, from the binaries' NEEDED entries
depends=$(dpkg-deb -f "$deb" Depends)
assert_contains "$depends" "libc6" "deb Depends"
for lib in $(objdump -p "$T/x/usr/sbin/pcm-agent" | awk '$1 == "NEEDED" { print $2 }'); do
	case $lib in libc.so.*|libm.so.*|libpthread.so.*|ld-linux*) continue ;; esac
	pkg=$(dpkg -S "*/$lib" 2>/dev/null | sed -n '1s/:.*//p')
	[ -n "$pkg" ] || continue
	assert_contains "$depends" "$pkg" "deb Depends on the package of $lib"
done
# and the libraries loaded with dlopen (agent/aws/dl.c), which no scan sees
for lib in libcurl.so.4 libxml2.so.2; do
	if objdump -p "$T/x/usr/sbin/pcm-agent" | grep -q "NEEDED *$lib"; then
		fail "pcm-agent links $lib: it is meant to be loaded when first used"
	fi
	pkg=$(dpkg -S "*/$lib" 2>/dev/null | sed -n '1s/:.*//p')
	[ -n "$pkg" ] || fail "no package owns $lib"
	assert_contains "$depends" "$pkg" "deb Depends on $pkg (loaded with dlopen)"
	assert_contains "$rpmreq" "$lib()" "RPM Requires $lib (loaded with dlopen)"
done
ok "same $(wc -l <"$T/deb.files") files in both; conffile, state dir, Depends: $depends"

# -- a .deb for a ParallelCluster head node on Ubuntu: Slurm in its own prefix --
# (a stand-in for /opt/slurm: Debian's headers, a copy of libslurm no package owns)
mkdir -p "$T/slurm/include" "$T/slurm/lib"
ln -s /usr/include/slurm "$T/slurm/include/slurm"
lib=$(readlink -f "/usr/lib/$(gcc -print-multiarch)/libslurm.so")
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
cp "$lib" "$T/slurm/lib/$soname"
ln -s "$soname" "$T/slurm/lib/libslurm.so"
SLURM_PREFIX=$T/slurm "$PCM_TOP/packaging/mkpkg" deb "$T/pkg-pc" >"$T/log/deb-pc.log" 2>&1 ||
	fail "make deb SLURM_PREFIX=...: $(tail -n 30 "$T/log/deb-pc.log")"
pcdeb=$(ls "$T"/pkg-pc/pcm-agent_"$version"_*.deb)
dpkg-deb -x "$pcdeb" "$T/xpc"
dyn=$(objdump -p "$T/xpc/usr/sbin/pcm-agent")	# (not piped into grep -q: pipefail + SIGPIPE)
grep -Eq "(RUNPATH|RPATH) +$T/slurm/lib\$" <<<"$dyn" ||
	fail "the external-Slurm build does not find libslurm in $T/slurm/lib"
if [ -f "$PCM_TOP/slurm-plugin/spank_pcm.c" ]; then
	[ -f "$T/xpc$T/slurm/lib/slurm/spank_pcm.so" ] || fail "SPANK plugin not in $T/slurm/lib/slurm"
fi
if [ -f "$PCM_TOP/packaging/plugstack.conf.d/pcm.conf" ]; then
	grep -q "^optional $T/slurm/lib/slurm/spank_pcm.so" "$T/xpc/usr/share/pcm-agent/plugstack-pcm.conf" ||
		fail "the external-Slurm plugstack line does not name $T/slurm/lib/slurm/spank_pcm.so"
fi
pcdepends=$(dpkg-deb -f "$pcdeb" Depends)
assert_not_contains "$pcdepends" libslurm "external-Slurm Depends"
assert_contains "$pcdepends" "libc6 (" "external-Slurm Depends"
assert_contains "$pcdepends" "libcurl4 (" "external-Slurm Depends"
ok "SLURM_PREFIX build: RUNPATH $T/slurm/lib, plugin in its lib/slurm, Depends: $pcdepends"

# -- install into a throwaway root --------------------------------------------
# An overlay over /: the host's files are visible, every write lands in
# $R/rw/upper, so after the purge it shows exactly what was left behind.
# The upper layer is on a tmpfs of its own: it works wherever / itself is an
# overlay (containers), where an upper dir in /tmp could not be.
R=$(mktemp -d /tmp/pcm-pkgroot.XXXXXX)
at_exit "rmdir $R/rw $R/root $R"
mkdir "$R/rw" "$R/root"
mount -t tmpfs -o size=512m,mode=0755 pcm-pkgroot-rw "$R/rw" || fail "cannot mount a tmpfs on $R/rw"
at_exit "umount -l $R/rw"
mkdir "$R/rw/upper" "$R/rw/work"
mount -t overlay pcm-pkgroot -o "lowerdir=/,upperdir=$R/rw/upper,workdir=$R/rw/work" "$R/root" ||
	fail "cannot mount an overlay over / on $R/root"
at_exit "umount -l $R/root"
M=$R/root
[ -c "$M/dev/null" ] || mknod -m 0666 "$M/dev/null" c 1 3
rm -rf "$M/run/systemd/system"	# no systemd running in there: nothing is started
# what the upper layer holds, apart from dpkg's and man-db's own bookkeeping
# and directories that exist on the host
leftovers() {
	(cd "$R/rw/upper" && find . -mindepth 1 \( -path ./var/lib/dpkg -o -path ./var/log \
		-o -path ./var/cache -o -path ./dev/null -o -path ./run/systemd/system \) -prune -o -print |
		while read -r f; do
			[ -d "$f" ] && [ ! -L "$f" ] && [ -d "/$f" ] && continue
			echo "${f#.}"
		done | LC_ALL=C sort)
}
# what was there before the package: the purge is judged against it, not
# against what earlier runs left on this machine
leftovers >"$T/upper-before"
dpkg-query -W pcm-agent >/dev/null 2>&1 && chroot "$M" dpkg --purge pcm-agent >/dev/null 2>&1
cp "$deb" "$M/tmp/pcm-agent.deb"
chroot "$M" dpkg -i /tmp/pcm-agent.deb >"$T/log/dpkg-install.log" 2>&1 ||
	fail "dpkg -i: $(cat "$T/log/dpkg-install.log")"
rm -f "$M/tmp/pcm-agent.deb"
assert_rc 0 chroot "$M" /usr/sbin/pcm-agent --version
debslurm=$(dpkg-query -W -f '${Version}' libslurm-dev | sed 's/-[^-]*$//')
assert_eq "$OUT" "pcm-agent $version (built for Slurm $debslurm)" "installed pcm-agent --version"
installed=$OUT
assert_rc 0 chroot "$M" /usr/sbin/pcm-agent -c /etc/pcm-agent/pcm-agent.conf config check
[ "$(stat -c %a "$M/var/lib/pcm-agent")" = 700 ] || fail "installed state dir is not 0700"
for u in pcm-agent.service pcm-agent-resume.service; do
	[ -L "$M/etc/systemd/system/multi-user.target.wants/$u" ] || fail "$u not enabled by the install"
done
ok "installed in a throwaway root: $installed; the shipped config parses; both units enabled"

# -- systemd-analyze verify, inside the root (ExecStart and man pages exist) ---
# (--man=no: the man pages are checked above and by 0900-docs; man-db may be absent)
# It writes runtime files of its own under /run (systemd-units-load, ...):
# those are not the package's, and are taken out of the purge check below.
leftovers >"$T/upper-before-analyze"
out=$(cd / && chroot "$M" systemd-analyze verify --man=no pcm-agent.service pcm-agent-resume.service 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
# ... and it does complain about a broken unit (so the check above can fail)
sed -e 's/^Restart=on-failure/Restart=sometimes/' -e 's|^ExecStart=.*|ExecStart=/usr/sbin/pcm-agent-nope watch|' \
	"$M/lib/systemd/system/pcm-agent.service" >"$M/lib/systemd/system/pcm-broken.service"
out=$(cd / && chroot "$M" systemd-analyze verify --man=no pcm-broken.service 2>&1) || true
rm -f "$M/lib/systemd/system/pcm-broken.service"
assert_contains "$out" "sometimes" "systemd-analyze verify on a broken unit"
leftovers | LC_ALL=C comm -13 "$T/upper-before-analyze" - >"$T/upper-analyze"
if grep -qv '^/run/' "$T/upper-analyze"; then
	fail "systemd-analyze verify wrote outside /run: $(grep -v '^/run/' "$T/upper-analyze" | tr '\n' ' ')"
fi
cat "$T/upper-before" "$T/upper-analyze" | LC_ALL=C sort -u >"$T/upper-known"
ok "systemd-analyze verify clean"

# -- purge: nothing left but the state dir (with a journal in it) --------------
echo '{"version": 1}' >"$M/var/lib/pcm-agent/journal.json"
chroot "$M" dpkg --purge pcm-agent >"$T/log/dpkg-purge.log" 2>&1 ||
	fail "dpkg --purge: $(cat "$T/log/dpkg-purge.log")"
# what the install and purge left: the upper layer now, less what was there
# before the install and what systemd-analyze wrote
left() { leftovers | LC_ALL=C comm -23 - "$T/upper-known"; }
assert_eq "$(left)" "/var/lib/pcm-agent
/var/lib/pcm-agent/journal.json" "files left after dpkg --purge"
# the listing does see a file left anywhere else, /run included
echo x >"$M/etc/pcm-agent-leftover"
assert_contains "$(left)" /etc/pcm-agent-leftover "leftover detection"
mkdir -p "$M/run/pcm-agent"
echo x >"$M/run/pcm-agent/leftover"
assert_contains "$(left)" /run/pcm-agent/leftover "leftover detection under /run"
ok "dpkg --purge leaves only the state dir"
