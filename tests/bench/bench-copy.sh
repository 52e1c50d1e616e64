#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-copy.sh - pcm-agent save/restore against cp -a, rsync -aHAX --sparse,
# fpsync (when installed) and the direct-I/O ceiling (dd iflag=direct
# oflag=direct over the same files), measured in the same run, runs
# alternating (A B C A B C ...), caches dropped and a pause before each run.
#
#   BENCH_SIZE=small   a smoke run (CI): small datasets, 1 round
#   BENCH_SIZE=large   the figures for the README: 8 x 512 MiB, 200k files
#   BENCH_DIR=DIR      where the datasets go (default /var/tmp; local disk)
#   BENCH_ROUNDS=N     rounds (default 3 large, 1 small); medians are printed
#   BENCH_SETS="large small mixed"   the datasets to run (default: all three)
#   BENCH_KEEP_PCM=1   keep pcm-agent's saves in BENCH_DIR/kept/<dataset>
#
# Every tool's copy is made durable (sync) inside its timing, as a save is.
# Prints a table per scenario: median seconds, ratio to pcm-agent (>1: pcm
# is faster), peak RSS, bytes written to the disk (from /sys/block/*/stat).
set -euo pipefail
: "${PCM_AGENT:?run through tests/bench/run or make bench}"
SIZE=${BENCH_SIZE:-large}
ROOT=${BENCH_DIR:-/var/tmp}
case $SIZE in
small) NBIG=4 BIGMB=32 NSMALL=5000 ROUNDS=${BENCH_ROUNDS:-1} ;;
large) NBIG=8 BIGMB=512 NSMALL=200000 ROUNDS=${BENCH_ROUNDS:-3} ;;
*) echo "BENCH_SIZE: small or large" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "bench-copy: needs root (drop_caches)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-copy: needs GNU time (apt-get install time)" >&2; exit 1; }
B=$(mktemp -d "$ROOT/pcm-bench.XXXXXX")
trap 'rm -rf "$B"' EXIT
HERE=$(cd "$(dirname "$0")" && pwd)
cat >"$B/pcm.conf" <<CONF
state_dir = $B/state
cluster_name = bench
CONF
DEV=$(basename "$(findmnt -n -o SOURCE --target "$B" | sed 's/[0-9]*$//; s/p$//')")
[ -r "/sys/block/$DEV/stat" ] || DEV=
export B DEV

echo "datasets in $B (disk ${DEV:-unknown}), $ROUNDS round(s)"
# --- datasets ------------------------------------------------------------
SETS=${BENCH_SETS:-large small mixed}
want() { case " $SETS " in *" $1 "*) return 0 ;; esac; return 1; }
mkdir -p "$B/large" "$B/small" "$B/mixed"
want large && for i in $(seq "$NBIG"); do head -c "${BIGMB}M" /dev/urandom >"$B/large/big$i"; done
want small && python3 - "$B/small" "$NSMALL" <<'PY'
import os, random, sys
top, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
blob = os.urandom(16384)
for i in range(n):
    d = os.path.join(top, "d%03d" % (i % 500))
    if i < 500:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(blob[:rnd.randint(1024, 16384)])
PY
want mixed && (
cd "$B/mixed"
for i in $(seq 20); do head -c $((i * 100000)) /dev/urandom >"file$i"; done
for i in $(seq 5); do truncate -s $((BIGMB * 2))M "sparse$i"; printf x | dd of="sparse$i" bs=1M seek=$i conv=notrunc status=none; done
for i in $(seq 10); do ln "file$i" "link$i"; done
mkdir -p sub/deeper && cp file1 file2 sub/ && ln -s ../file3 sub/deeper/sym
)
sync

# --- one measured run -------------------------------------------------------
# run NAME CMD...: drop caches, pause, run CMD under wait4; appends
# "NAME seconds maxrss_kb written_bytes" to $B/results
run() {
	local name=$1; shift
	sync; echo 3 >/proc/sys/vm/drop_caches; sleep 1
	python3 - "$name" "$@" >>"$B/results" <<'PY'
import os, subprocess, sys, time
name, cmd = sys.argv[1], sys.argv[2:]
dev = os.environ.get("DEV")
def written():
    if not dev:
        return 0
    with open("/sys/block/%s/stat" % dev) as f:
        return int(f.read().split()[6]) * 512
# peak RSS through GNU time: a child forked by python starts with python's
# pages (~13 MiB) counted in its own ru_maxrss; one forked by time does not
rss = os.path.join(os.environ["B"], "rss")
w0, t0 = written(), time.monotonic()
p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss] + cmd, stdout=subprocess.DEVNULL)
status = p.wait()
t = time.monotonic() - t0
if status != 0:
    sys.stderr.write("bench: %s failed: %s\n" % (name, " ".join(cmd)))
    sys.exit(1)
with open(rss) as f:
    maxrss = int(f.read().split()[-1])
print("%s|%.3f|%d|%d" % (name, t, maxrss, written() - w0))
PY
}

# Off EC2 (this bench) the instance id would be asked of the metadata
# service first, which loads libcurl (~8 MiB, ~30 ms cold) only to fail; a
# Nitro head node reads it from DMI with neither.  Measure that case.
PCMS="env AWS_EC2_METADATA_DISABLED=true $PCM_AGENT -c $B/pcm.conf -q"
FPSYNC=$(command -v fpsync || true)

ddcopy() {	# the direct-I/O ceiling: dd every regular file, O_DIRECT both ways
	local src=$1 dst=$2
	mkdir -p "$dst"
	(cd "$src" && find . -type d) | (cd "$dst" && xargs mkdir -p)
	(cd "$src" && find . -type f -print0) | while IFS= read -r -d '' f; do
		dd if="$src/$f" of="$dst/$f" bs=4M iflag=direct oflag=direct status=none 2>/dev/null ||
			cp "$src/$f" "$dst/$f"
	done
	sync
}
export -f ddcopy

# --- scenarios ------------------------------------------------------------
report() {	# scenario
	python3 - "$B/results" "$1" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, t, rss, w = line.rstrip("\n").split("|")
    rows.setdefault(n, []).append((float(t), int(rss), int(w)))
print("\n== %s" % sys.argv[2])
print("%-22s %9s %9s %10s %12s" % ("tool", "median s", "pcm x", "peak RSS", "written"))
ref = statistics.median(t for t, _, _ in rows.get("pcm-agent", [(0, 0, 0)]))
for n, v in rows.items():
    med = statistics.median(t for t, _, _ in v)
    rss = max(r for _, r, _ in v)
    w = statistics.median(x for _, _, x in v)
    ratio = med / ref if ref > 0 else 0
    print("%-22s %9.3f %9.2f %7.1f MiB %9.1f MB" % (n, med, ratio, rss / 1024, w / 1e6))
PY
	: >"$B/results"
}
: >"$B/results"

for ds in $SETS; do
	# full save: each tool into a fresh directory, rounds alternating
	for r in $(seq "$ROUNDS"); do
		rm -rf "$B/t-pcm" "$B/t-cp" "$B/t-rsync" "$B/t-dd" "$B/t-fpsync"
		run pcm-agent $PCMS save --source "$B/$ds" --target "$B/t-pcm"
		run "cp -a" sh -c "cp -a '$B/$ds' '$B/t-cp' && sync"
		run "rsync -aHAX --sparse" sh -c "rsync -aHAX --sparse '$B/$ds/' '$B/t-rsync/' && sync"
		if [ "$ds" != small ]; then
			run "dd direct (ceiling)" bash -c "ddcopy '$B/$ds' '$B/t-dd'"
		fi
		if [ -n "$FPSYNC" ]; then
			run fpsync sh -c "$FPSYNC -n 2 '$B/$ds/' '$B/t-fpsync/' >/dev/null && sync"
		fi
	done
	report "$ds: full save"
	# no change: the same again over the complete copies
	for r in $(seq "$ROUNDS"); do
		run pcm-agent $PCMS save --source "$B/$ds" --target "$B/t-pcm"
		run "rsync -aHAX --sparse" sh -c "rsync -aHAX --sparse '$B/$ds/' '$B/t-rsync/' && sync"
	done
	report "$ds: no-change save"
	if [ "$ds" = large ]; then
		# 1 % of the blocks of every large file rewritten in place
		for r in $(seq "$ROUNDS"); do
			python3 - "$B/large" "$r" <<'PY'
import os, random, sys
rnd = random.Random(int(sys.argv[2]))
for n in sorted(os.listdir(sys.argv[1])):
    p = os.path.join(sys.argv[1], n)
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        for _ in range(max(1, size // (1 << 20) // 100)):
            f.seek(rnd.randrange(0, size - 65536) & ~4095)
            f.write(os.urandom(65536))
PY
			run pcm-agent $PCMS save --source "$B/large" --target "$B/t-pcm"
			# both rsync variants need the state before the change: one
			# per round, alternating
			if [ $((r % 2)) -eq 1 ]; then
				run "rsync -aHAX --sparse" sh -c "rsync -aHAX --sparse '$B/large/' '$B/t-rsync/' && sync"
			else
				run "rsync --no-whole-file --inplace" sh -c "rsync -aHAX --sparse --no-whole-file --inplace '$B/large/' '$B/t-rsync/' && sync"
			fi
		done
		report "large: 1 % changed (written = bytes to the disk)"
	fi
	# restore: pcm restore vs cp -a back
	for r in $(seq "$ROUNDS"); do
		rm -rf "$B/r-pcm" "$B/r-cp"
		run pcm-agent $PCMS restore --from "$B/t-pcm" --to "$B/r-pcm"
		run "cp -a" sh -c "cp -a '$B/t-cp' '$B/r-cp' && sync"
	done
	report "$ds: restore"
	if [ -n "${BENCH_KEEP_PCM:-}" ]; then	# for the smoke test to verify
		mkdir -p "$ROOT/kept"
		mv "$B/t-pcm" "$ROOT/kept/$ds"
	fi
	rm -rf "$B"/t-* "$B"/r-*
done
