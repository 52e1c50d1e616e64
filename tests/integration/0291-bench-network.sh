#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The network-target stand-in and its bench: tests/fakes/latencyfs delays
# every operation and caps throughput, counts operations by kind (on
# SIGUSR1 and at exit), passes data through to the directory under it and
# unmounts when stopped by pid; make bench's "network target" scenario
# (small) runs every tool both ways, each copy whole, each row with a time,
# operations per file and a peak RSS.  No speed is asserted of the tools.
. "$(dirname "$0")/lib.sh"
need_root
LFS=$PCM_BUILD/tests/fakes/latencyfs
[ -x "$LFS" ] || fail "no $LFS: libfuse3-dev was missing at build time (packaging/install-deps)"
[ -e /dev/fuse ] || skip "no /dev/fuse"
for t in /usr/bin/time fusermount3 fpsync; do
	command -v "$t" >/dev/null || fail "$t missing (packaging/install-deps installs it)"
done

# --- latencyfs ------------------------------------------------------------
mkdir -p "$T/net"
echo before >"$T/net/old"
bg latencyfs "$LFS" --delay-us=20000 --mib-us=100000 --counts="$T/counts" "$T/net" "$T/net"
LPID=$BG_PID
at_exit "fusermount3 -u '$T/net'"
wait_for 10 "latencyfs mounted" findmnt -n -M "$T/net" -t fuse.latencyfs
assert_eq "$(cat "$T/net/old")" before "a file under the mount point reads through"
ms() { date +%s%3N; }
t0=$(ms)
for i in 1 2 3 4 5; do echo "$i" >"$T/net/f$i"; done
t1=$(ms)
# each create is at least create + flush + release (+ getattr): >= 2 x 20 ms
[ $((t1 - t0)) -ge 200 ] || fail "5 creates took $((t1 - t0)) ms: no 20 ms delay per operation"
t0=$(ms)
head -c 4M /dev/zero >"$T/net/big"
t1=$(ms)
[ $((t1 - t0)) -ge 400 ] || fail "4 MiB written in $((t1 - t0)) ms: no 100 ms/MiB cap"
mkdir "$T/net/dir" && mv "$T/net/f5" "$T/net/dir/f5" && rm "$T/net/f4"
kill -USR1 "$LPID"
wait_for 5 "the counts on SIGUSR1" test -s "$T/counts"
c=$(cat "$T/counts")
for k in "create 6" "mkdir 1" "rename 1" "unlink 1" "bytes_written 4194314"; do
	assert_contains "$c" "$k" "latencyfs counts ($k)"
done
stop_pid "$LPID"
wait_for 10 "latencyfs unmounted" sh -c "! findmnt -n -M '$T/net'"
kill -0 "$LPID" 2>/dev/null && fail "latencyfs still runs after SIGTERM"
assert_eq "$(cat "$T/net/dir/f5")" 5 "the data is in the directory under the mount"
[ -e "$T/net/f4" ] && fail "the unlink did not pass through"
assert_contains "$(cat "$T/counts")" "total" "the counts at exit"
ok "latencyfs: delays, cap, counts on SIGUSR1 and at exit, passthrough, unmount by pid"

# --- the bench, small -----------------------------------------------------
export AWS_EC2_METADATA_DISABLED=true
BENCH_SIZE=small BENCH_DIR=$T bash "$PCM_TOP/tests/bench/bench-network.sh" >"$T/bench.out" 2>&1 ||
	fail "bench-network.sh failed: $(tail -n 20 "$T/bench.out")"
findmnt -t fuse.latencyfs -n | grep -q "$T" && fail "the bench left latencyfs mounted"
python3 - "$T/bench.out" <<'PY' || fail "a table is incomplete: $(cat "$T/bench.out")"
import re, sys
tables, cur = {}, None
for line in open(sys.argv[1]):
    if line.startswith("== "):
        cur = line[3:].strip()
        tables[cur] = {}
    elif cur and re.match(r"^\S.*\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+ MiB  ", line):
        name = re.split(r"\s{2,}", line.strip())[0]
        secs, ratio, opf, rss = (float(x) for x in re.findall(r"\s([0-9.]+)", line)[:4])
        tables[cur][name] = (secs, opf, rss)
want = ["pcm-agent", "rsync -aHAX", "fpsync -n 16", "cp -a", "xargs -P16 rsync"]
bad = []
for ds in ("small", "large"):
    for d in ("save to", "restore from"):
        t = "%s: %s the network target, 1000 us per operation" % (ds, d)
        if t not in tables:
            bad.append("no table " + t)
            continue
        for tool in want:
            r = tables[t].get(tool)
            if r is None or min(r) <= 0:
                bad.append("%s: %s: %s" % (t, tool, r))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
ok "bench network target (small): every tool both ways, times, ops per file, RSS"
