#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The CLI contract: help, version, usage errors exit 2, config errors exit 1.
. "$(dirname "$0")/lib.sh"

assert_rc 0 "$PCM" --help
assert_contains "$OUT" "usage: pcm-agent [-c FILE] [--state-dir DIR] [--json] [-v|-q] COMMAND" "--help"
assert_contains "$OUT" "6  another pcm-agent operation holds the lock" "exit codes in --help"
assert_rc 0 "$PCM" --version
assert_contains "$OUT" "pcm-agent " "--version"
assert_rc 2 "$PCM"
assert_rc 2 "$PCM" no-such-command
assert_contains "$OUT" "unknown command 'no-such-command'" "unknown command"
assert_rc 2 "$PCM" --no-such-option
assert_rc 2 "$PCM" help no-such-command
assert_rc 0 "$PCM" help config
assert_contains "$OUT" "usage: pcm-agent config check" "help config"
assert_rc 0 "$PCM" config --help
assert_contains "$OUT" "usage: pcm-agent config check" "config --help"
assert_rc 2 "$PCM" -c "$PCM_CONF" config --bogus
assert_rc 2 "$PCM" -c "$PCM_CONF" config frob

# every command in --help has a help text of its own
for c in $("$PCM" --help | sed -n '/^commands:/,/^$/p' | awk 'NR>1 && NF {print $1}'); do
	assert_rc 0 "$PCM" help "$c"
	assert_contains "$OUT" "usage: pcm-agent $c" "help $c"
done

# config check: effective values and where they came from
cat >"$T/cfnconfig" <<CFN
stack_name=it-cluster
cfn_region=eu-north-1
cfn_ephemeral_dir=/scratch2
CFN
echo "workers = 4" >>"$PCM_CONF"
assert_rc 0 pcm --state-dir "$T/other" config check
assert_contains "$OUT" "configuration OK: $PCM_CONF" "config check header"
assert_contains "$OUT" "cluster_name           = it-cluster" "discovered cluster"
assert_contains "$OUT" "discovered: $T/cfnconfig stack_name" "discovery source"
assert_contains "$OUT" "state_dir              = $T/other" "--state-dir wins"
assert_contains "$OUT" "# config file: $PCM_CONF:4" "file source with line"
assert_rc 0 pcm --json config check
[ "$(echo "$OUT" | json_get 'd["config"]["workers"]["value"]')" = 4 ] || fail "json workers"
[ "$(echo "$OUT" | json_get 'd["config"]["region"]["source"]')" = discovered ] || fail "json source"

# a bad config names file, line and key, and exits 1
echo "workers = lots" >>"$PCM_CONF"
assert_rc 1 pcm config check
assert_contains "$OUT" "$PCM_CONF:5: workers: set twice (first at line 4)" "error message"
printf 'state_dir = /x\nfrobnicate = 1\n' >"$T/bad.conf"
assert_rc 1 "$PCM" -c "$T/bad.conf" config check
assert_contains "$OUT" "$T/bad.conf:2: unknown key 'frobnicate'" "unknown key"
assert_rc 1 "$PCM" -c "$T/missing.conf" config check
assert_contains "$OUT" "cannot read config file $T/missing.conf: No such file or directory" "missing -c"
ok "cli contract"
