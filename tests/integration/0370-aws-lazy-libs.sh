#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# libcurl and libxml2 are loaded only by the commands that talk to AWS
# (agent/aws/dl.c): the storage commands run without them (memory, cold
# start) on a Nitro instance, where the instance id comes from the DMI table
# (a fixture here), the AWS commands load and use them, and a library that
# cannot be loaded is named with the package to install, not a crash.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"
moto_start
aws_cluster c1
imds_fake_start --instance-id "$HEAD_ID"
cat >>"$PCM_CONF" <<CONF
cluster_name = c1
restart_method = reboot
CONF

# loaded_libs CMD...: run CMD with the dynamic loader's trace; sets LIBS
# to the libraries it initialised and RC to its exit status
loaded_libs() {
	RC=0
	LD_DEBUG=libs "$@" 2>"$T/ld.trace" >/dev/null || RC=$?
	LIBS=$(sed -n 's/.*calling init: //p' "$T/ld.trace")
}

mkdir -p "$T/src/d" "$T/tgt" "$T/dmi"
echo data >"$T/src/d/f"
echo "Amazon EC2" >"$T/dmi/sys_vendor"
echo "i-0d31000000000000a" >"$T/dmi/board_asset_tag"
nitro() { env -u AWS_EC2_METADATA_SERVICE_ENDPOINT PCM_TEST_DMI_DIR="$T/dmi" "$@"; }
for cmd in "--version" "save --source $T/src --target $T/tgt" "verify --target $T/tgt" \
	"restore --from $T/tgt --to $T/dst" "targets" "config check"; do
	loaded_libs nitro "$PCM" -c "$PCM_CONF" $cmd
	libs=$LIBS
	[ "$RC" -eq 0 ] || fail "pcm $cmd exited $RC: $(tail -5 "$T/ld.trace")"
	assert_contains "$libs" "libc.so" "pcm $cmd: the trace works"
	assert_not_contains "$libs" "libcurl" "pcm $cmd loads no libcurl"
	assert_not_contains "$libs" "libxml2" "pcm $cmd loads no libxml2"
done
[ -f "$T/tgt/pcm-agent/c1/i-0d31000000000000a/MANIFEST" ] ||
	fail "the save is not named after the DMI instance id: $(ls -R "$T/tgt" | head)"
ok "save, verify, restore, targets, config check: neither library loaded"

# an AWS command loads them and works (moto checks the signatures)
loaded_libs pcm fleet status
libs=$LIBS
[ "$RC" -eq 0 ] || fail "fleet status exited $RC"
assert_contains "$libs" "libcurl.so.4" "fleet status loads libcurl"
loaded_libs pcm check --restart-method reboot
libs=$LIBS
[ "$RC" -eq 0 ] || fail "check exited $RC: $(grep -v '^ *[0-9]*:' "$T/ld.trace" | tail -5)"
assert_contains "$libs" "libxml2.so.2" "check (EC2 XML) loads libxml2"
ok "fleet status and check load what they use"

# a library that cannot be loaded: named, with the package, a clean error
PCM_TEST_LIBCURL=$T/nonexistent/libcurl.so.4 assert_rc 1 pcm fleet status
assert_contains "$OUT" "cannot load libcurl.so.4" "missing libcurl named"
assert_contains "$OUT" "(install libcurl4)" "the package to install"
assert_eq "$(echo "$OUT" | grep -c 'cannot load libcurl')" 1 "the reason is said once"
PCM_TEST_LIBXML2=$T/nonexistent/libxml2.so.2 assert_rc 1 pcm check --restart-method reboot
assert_contains "$OUT" "cannot load libxml2.so.2" "missing libxml2 named"
assert_contains "$OUT" "(install libxml2)" "the package to install"
ok "a missing library is named with its package"
