#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-network.sh - the "network target" scenario: save to and restore from
# a directory behind tests/fakes/latencyfs (a FUSE passthrough that delays
# every metadata operation by an EFS-like round trip and counts operations),
# pcm-agent against rsync -aHAX, fpsync -n 16, cp -a and 16 parallel rsyncs
# over a file list (xargs -P16), measured in the same run.  latencyfs is
# mounted afresh for every run (cold kernel caches, counters from zero) and
# unmounted by its pid's mount point (fusermount3 -u) after it.
#
#   BENCH_NET_SIZE=small   a smoke run (CI): 300 small files, 2 x 4 MiB, 1 ms
#                          (the default when BENCH_SIZE=small)
#   BENCH_NET_SIZE=medium  the figures for storage/README.md (the default):
#                          3000 small files, 4 x 64 MiB, 1 ms and 3 ms
#                          (~15 minutes on 2 shared cores)
#   BENCH_NET_SIZE=large   200k small files, 8 x 512 MiB (most of a day:
#                          rsync costs ~23 operations per file, one at a time,
#                          77 minutes at 1 ms and 4 hours at 3 ms)
#   BENCH_NET_FILES=N   override the number of small files
#   BENCH_DELAYS="1000 3000"   microseconds per operation
#   BENCH_MIB_US=N      microseconds per MiB read or written (default 1000:
#                       a shared link of ~1 GiB/s)
#   BENCH_SETS="small large"   the datasets
#   BENCH_PCM_WORKERS="0 16 32"   pcm-agent's worker counts (0: automatic)
#   BENCH_LFS_OPTS="--writeback"  more latencyfs options (the kernel's
#                       write-back cache, as an NFS client caches writes)
#   BENCH_DIR=DIR       where the datasets go (default /var/tmp; local disk)
#   BENCH_NET_TOOLS="rsync fpsync cp xrsync"   the tools pcm-agent is compared
#                       with (at 200k files rsync alone takes 77 min at 1 ms)
#
# Then the verify of pcm-agent's save (full and --incremental) next to
# rsync -c -n (the copy compared with the source by checksum).
# Prints a table per dataset, delay and direction: seconds, ratio to
# pcm-agent (>1: pcm-agent is faster), operations per file (from latencyfs'
# counters), peak RSS, and the counters of the busiest kinds.
set -euo pipefail
: "${PCM_AGENT:?run through tests/bench/run or make bench}"
SIZE=${BENCH_NET_SIZE:-$([ "${BENCH_SIZE:-}" = small ] && echo small || echo medium)}
ROOT=${BENCH_DIR:-/var/tmp}
case $SIZE in
small) NSMALL=300 NBIG=2 BIGMB=4 DELAYS=${BENCH_DELAYS:-1000} ;;
medium) NSMALL=3000 NBIG=4 BIGMB=64 DELAYS=${BENCH_DELAYS:-1000 3000} ;;
large) NSMALL=200000 NBIG=8 BIGMB=512 DELAYS=${BENCH_DELAYS:-1000 3000} ;;
*) echo "BENCH_NET_SIZE: small, medium or large" >&2; exit 2 ;;
esac
NSMALL=${BENCH_NET_FILES:-$NSMALL}
MIB_US=${BENCH_MIB_US:-1000}
PCMW=${BENCH_PCM_WORKERS:-0}
LFS=${PCM_BUILD:?}/tests/fakes/latencyfs
[ "$(id -u)" -eq 0 ] || { echo "bench-network: needs root (FUSE, drop_caches)" >&2; exit 1; }
[ -x "$LFS" ] || { echo "bench-network: no $LFS (libfuse3-dev missing at build time?)" >&2; exit 1; }
[ -e /dev/fuse ] || { echo "bench-network: no /dev/fuse" >&2; exit 1; }
for t in /usr/bin/time fusermount3 rsync fpsync fpart; do
	command -v "$t" >/dev/null || { echo "bench-network: needs $t (packaging/install-deps)" >&2; exit 1; }
done
B=$(mktemp -d "$ROOT/pcm-netbench.XXXXXX")
LPID= MNT=$B/net
cleanup() {
	if [ -n "$LPID" ] && kill -0 "$LPID" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
		kill "$LPID" 2>/dev/null || true
		wait "$LPID" 2>/dev/null || true
	fi
	rm -rf "$B"
}
trap cleanup EXIT
mkdir -p "$MNT"
export B

# --- datasets ------------------------------------------------------------
SETS=${BENCH_SETS:-small large}
want() { case " $SETS " in *" $1 "*) return 0 ;; esac; return 1; }
want large && mkdir -p "$B/large" && for i in $(seq "$NBIG"); do
	head -c "${BIGMB}M" /dev/urandom >"$B/large/big$i"
done
want small && python3 - "$B/small" "$NSMALL" <<'PY'
import os, random, sys
top, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
blob = os.urandom(16384)
ndirs = max(1, n // 400)
for i in range(n):
    d = os.path.join(top, "d%03d" % (i % ndirs))
    if i < ndirs:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(blob[:rnd.randint(1024, 16384)])
PY
sync
echo "datasets in $B: small $NSMALL files, large $NBIG x $BIGMB MiB;" \
	"delays ${DELAYS// / and } us per operation, $MIB_US us per MiB"

cat >"$B/pcm.conf" <<CONF
state_dir = $B/state
cluster_name = bench
CONF
for w in $PCMW; do
	cp "$B/pcm.conf" "$B/pcm-$w.conf"
	[ "$w" = 0 ] || echo "workers = $w" >>"$B/pcm-$w.conf"
done
pcmname() { [ "$1" = 0 ] && echo pcm-agent || echo "pcm-agent w=$1"; }

# --- latencyfs ------------------------------------------------------------
mount_lfs() {	# delay_us
	rm -f "$B/counts"
	# shellcheck disable=SC2086
	"$LFS" --delay-us="$1" --mib-us="$MIB_US" --counts="$B/counts" ${BENCH_LFS_OPTS:-} "$MNT" "$MNT" \
		2>>"$B/lfs.err" &
	LPID=$!
	local n=0
	until findmnt -n -M "$MNT" -t fuse.latencyfs >/dev/null 2>&1; do
		n=$((n + 1))
		kill -0 "$LPID" 2>/dev/null && [ $n -lt 100 ] ||
			{ echo "bench-network: latencyfs did not mount: $(cat "$B/lfs.err")" >&2; exit 1; }
		sleep 0.1
	done
}
umount_lfs() {
	local n=0
	until fusermount3 -u "$MNT" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 50 ] || { echo "bench-network: cannot unmount $MNT" >&2; exit 1; }
		sleep 0.2
	done
	wait "$LPID" || true
	LPID=
	[ -s "$B/counts" ] || { echo "bench-network: latencyfs wrote no counts" >&2; exit 1; }
}

# run NAME NFILES DELAY CMD...: mount, drop caches, run CMD under GNU time,
# unmount; appends "name|seconds|maxrss_kb|ops|nfiles|top counters" to results
run() {
	local name=$1 nfiles=$2 delay=$3; shift 3
	mount_lfs "$delay"
	sync; echo 3 >/proc/sys/vm/drop_caches; sleep 0.5
	local t0 t1 st=0
	t0=$(date +%s.%N)
	/usr/bin/time -f %M -o "$B/rss" "$@" >"$B/out" 2>&1 || st=$?
	t1=$(date +%s.%N)
	umount_lfs
	if [ $st -ne 0 ]; then
		echo "bench-network: $name failed ($st): $* : $(tail -n 5 "$B/out")" >&2
		exit 1
	fi
	python3 - "$name" "$t0" "$t1" "$B/rss" "$B/counts" "$nfiles" >>"$B/results" <<'PY'
import sys
name, t0, t1, rss, counts, nfiles = sys.argv[1:]
c = dict(l.split() for l in open(counts) if l.strip())
c = {k: int(v) for k, v in c.items()}
top = sorted(((v, k) for k, v in c.items() if k not in ("total", "bytes_read", "bytes_written")),
             reverse=True)[:5]
print("%s|%.3f|%s|%d|%s|%s" % (name, float(t1) - float(t0), open(rss).read().split()[-1],
      c["total"], nfiles, " ".join("%s=%d" % (k, v) for v, k in top)))
PY
}

report() {	# title
	python3 - "$B/results" "$1" <<'PY'
import sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1]) if l.strip()]
print("\n== %s" % sys.argv[2])
print("%-24s %9s %7s %9s %10s  %s" % ("tool", "seconds", "pcm x", "ops/file", "peak RSS",
      "busiest operations"))
ref = next((float(r[1]) for r in rows if r[0] == "pcm-agent"), 0)
for n, t, rss, ops, nf, top in rows:
    print("%-24s %9.2f %7.2f %9.2f %6.1f MiB  %s" % (n, float(t), float(t) / ref if ref else 0,
          int(ops) / max(1, int(nf)), int(rss) / 1024, top))
PY
	: >"$B/results"
}
: >"$B/results"

# 16 parallel rsyncs over the file list, split in 16 (directories and links
# come with -R through --files-from)
xrsync() {	# src dst
	local src=$1 dst=$2 l
	l=$(mktemp -d "$B/xlist.XXXXXX")
	(cd "$src" && find . -mindepth 1 ! -type d) >"$l/all"
	split -n "l/16" "$l/all" "$l/part."
	mkdir -p "$dst"
	find "$l" -name 'part.*' -size +0 -print0 |
		xargs -0 -P16 -I{} rsync -aHAX --files-from={} "$src/" "$dst/"
	rm -rf "$l"
}
export -f xrsync

PCM="env AWS_EC2_METADATA_DISABLED=true $PCM_AGENT -q"
TOOLS=${BENCH_NET_TOOLS:-rsync fpsync cp xrsync}
use() { case " $TOOLS " in *" $1 "*) return 0 ;; esac; return 1; }
for ds in $SETS; do
	nf=$(find "$B/$ds" -mindepth 1 | wc -l)
	nreg=$(find "$B/$ds" -type f | wc -l)
	# fpsync: ~64 partitions (its default of 2000 files would make 2 of 3000 files)
	fpf=$((nreg / 64 > 0 ? nreg / 64 : 1))
	for d in $DELAYS; do
		rm -rf "${MNT:?}"/* "$B"/r-*
		for w in $PCMW; do
			rm -rf "$MNT/pcm"
			run "$(pcmname "$w")" "$nf" "$d" $PCM -c "$B/pcm-$w.conf" save --source "$B/$ds" --target "$MNT/pcm"
		done
		use rsync && run "rsync -aHAX" "$nf" "$d" sh -c "rsync -aHAX '$B/$ds/' '$MNT/rsync/' && sync"
		use fpsync && run "fpsync -n 16" "$nf" "$d" sh -c "fpsync -n 16 -f $fpf -t '$B/fpsync-tmp' '$B/$ds/' '$MNT/fpsync/' && sync"
		use cp && run "cp -a" "$nf" "$d" sh -c "cp -a '$B/$ds' '$MNT/cp' && sync"
		use xrsync && run "xargs -P16 rsync" "$nf" "$d" bash -c "xrsync '$B/$ds' '$MNT/xrsync' && sync"
		report "$ds: save to the network target, $d us per operation"
		for w in $PCMW; do
			rm -rf "$B/r-pcm"
			run "$(pcmname "$w")" "$nf" "$d" $PCM -c "$B/pcm-$w.conf" restore --from "$MNT/pcm" --to "$B/r-pcm"
		done
		use rsync && run "rsync -aHAX" "$nf" "$d" sh -c "rsync -aHAX '$MNT/rsync/' '$B/r-rsync/' && sync"
		use fpsync && run "fpsync -n 16" "$nf" "$d" sh -c "fpsync -n 16 -f $fpf -t '$B/fpsync-tmp' '$MNT/fpsync/' '$B/r-fpsync/' && sync"
		use cp && run "cp -a" "$nf" "$d" sh -c "cp -a '$MNT/cp' '$B/r-cp' && sync"
		use xrsync && run "xargs -P16 rsync" "$nf" "$d" bash -c "xrsync '$MNT/xrsync' '$B/r-xrsync' && sync"
		report "$ds: restore from the network target, $d us per operation"
		# verify: pcm-agent reads its save back (the full verify, then the
		# incremental one over it: only stat's); rsync's users compare the
		# copy with the source by checksum (-c, a dry run: reads both)
		for w in $PCMW; do
			run "$(pcmname "$w")" "$nf" "$d" $PCM -c "$B/pcm-$w.conf" verify --target "$MNT/pcm"
			run "$(pcmname "$w") --incremental" "$nf" "$d" $PCM -c "$B/pcm-$w.conf" verify \
				--target "$MNT/pcm" --incremental
		done
		use rsync && run "rsync -aHAXc -n" "$nf" "$d" sh -c \
			"out=\$(rsync -aHAXc -n --out-format=%n '$B/$ds/' '$MNT/rsync/') && [ -z \"\$out\" ]"
		report "$ds: verify of the copy on the network target, $d us per operation"
		# every copy is whole
		for r in pcm $TOOLS; do
			diff -r "$B/$ds" "$B/r-$r" >/dev/null ||
				{ echo "bench-network: the $r copy of $ds differs" >&2; exit 1; }
		done
	done
	rm -rf "${MNT:?}"/* "$B"/r-*
done
