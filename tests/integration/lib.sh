# SPDX-License-Identifier: GPL-2.0-or-later
# tests/integration/lib.sh - sourced by every integration test.
#
#   . "$(dirname "$0")/lib.sh"
#
# Gives: $T (a fresh temp dir, removed at exit), $PCM (the binary under
# test), pcm (runs it with the test's config), and helpers.  Everything a
# test starts is registered with bg or at_exit and stopped by pid at exit,
# in reverse order.  Exit 77 = skipped (tests/run-all counts it apart, and
# under CI a skip fails the run).
set -euo pipefail

: "${PCM_TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${PCM_BUILD:=$PCM_TOP/build}"
: "${PCM_AGENT:=$PCM_BUILD/pcm-agent}"
PCM=$PCM_AGENT
T=$(mktemp -d /tmp/pcm-it.XXXXXX)
chmod 755 "$T"
_AT_EXIT=()

at_exit() { _AT_EXIT+=("$*"); }

_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#_AT_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${_AT_EXIT[$i]}" >/dev/null 2>&1
	done
	if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "${KEEP_LOGS_ON_FAIL:-1}" ]; then
		# show the daemons' logs of a failed test
		for f in "$T"/log/*.log; do
			[ -f "$f" ] || continue
			echo "----- $f (last 30 lines)"; tail -n 30 "$f"
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap _cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$T/log"

# bg NAME CMD...: start CMD in the background, log to $T/log/NAME.log,
# stop it at exit (TERM, then KILL after 5 s).  Sets BG_PID.
bg() {
	local name=$1; shift
	"$@" >"$T/log/$name.log" 2>&1 &
	BG_PID=$!
	at_exit "stop_pid $BG_PID"
}

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 77; }
ok() { echo "ok: $*"; }

assert_eq() {	# got want what
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}
assert_contains() {	# haystack needle what
	case "$1" in *"$2"*) ;; *) fail "$3: '$2' not in: $1" ;; esac
}
assert_not_contains() {
	case "$1" in *"$2"*) fail "$3: '$2' unexpectedly in: $1" ;; *) ;; esac
}
# assert_rc WANT CMD...: run CMD, check its exit status; output in $OUT
assert_rc() {
	local want=$1; shift
	local rc=0
	OUT=$("$@" 2>&1) || rc=$?
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want; output: $OUT"
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds
wait_for() {
	local secs=$1 what=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.2
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }

# jq-free JSON field access: json_get 'expr' < file, expr is python on `d`
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# The test's own config file; tests append keys to it.
PCM_CONF=$T/pcm-agent.conf
cat >"$PCM_CONF" <<CONF
state_dir = $T/state
run_dir = $T/run
cfnconfig = $T/cfnconfig
CONF
pcm() { "$PCM" -c "$PCM_CONF" "$@"; }
