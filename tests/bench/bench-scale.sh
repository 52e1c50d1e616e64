#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-scale.sh - pcm-agent save of many small files on the local disk:
# time and peak RSS at N = 200k and N = 2M (is the time linear, does the
# RSS stay under a bound), a no-change save at each N, and rsync -a and
# cp -a over the same tree in the same run.
#
#   runs with BENCH_SIZE=large (make bench) or BENCH_SCALE=1; otherwise it
#   prints why it does nothing
#   BENCH_SCALE_N="200000 2000000"  the file counts (ascending)
#   BENCH_SCALE_CMP="200000"        the counts at which rsync -a and cp -a run
#                                   too (default: the smallest; "all": every N)
#   BENCH_SCALE_RSS_MIB=256         the peak RSS bound the summary checks
#   BENCH_DIR=DIR                   where the trees go (default /var/tmp; local disk)
#   BENCH_SCALE_KEEP=1              keep pcm-agent's saves in BENCH_DIR/kept-scale/N
#
# The tree: leaf directories of 100-1000 files of 1-4 KiB, 20 of them in
# each of N/11000 top directories (3 levels), written by one python
# process.  Each run: sync, caches dropped, 1 s pause; every copy made
# durable (sync) inside its timing, as a save is.  Peak RSS by GNU time.
# One round: at 2M files a round takes about 10 minutes, and removing the
# trees at the end as long again (after the summary).  The machine's
# load average is printed with every row (other processes may run: the
# figures are of a shared machine when it is not 0).
set -euo pipefail
: "${PCM_AGENT:?run through tests/bench/run or make bench}"
if [ "${BENCH_SCALE:-}" != 1 ] && [ "${BENCH_SIZE:-large}" != large ]; then
	echo "bench-scale: not run (BENCH_SIZE=large or BENCH_SCALE=1 runs it)"
	exit 0
fi
NS=${BENCH_SCALE_N:-200000 2000000}
CMP=${BENCH_SCALE_CMP:-${NS%% *}}
BOUND=${BENCH_SCALE_RSS_MIB:-256}
ROOT=${BENCH_DIR:-/var/tmp}
[ "$(id -u)" -eq 0 ] || { echo "bench-scale: needs root (drop_caches)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-scale: needs GNU time (apt-get install time)" >&2; exit 1; }
for n in $NS; do
	case $n in '' | *[!0-9]*) echo "BENCH_SCALE_N: numbers, not '$n'" >&2; exit 2 ;; esac
done
B=$(mktemp -d "$ROOT/pcm-scale.XXXXXX")
trap 'rm -rf "$B"' EXIT
cat >"$B/pcm.conf" <<CONF
state_dir = $B/state
cluster_name = bench
CONF
export B
PCMS="env AWS_EC2_METADATA_DISABLED=true $PCM_AGENT -c $B/pcm.conf -q"

echo "trees in $B; $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg) at the start ($(date -u '+%F %H:%M UTC'))"

# run NAME N CMD...: drop caches, pause, run CMD under GNU time; appends
# "NAME|N|seconds|maxrss_kb|load1|files|cpu" to $B/results (files: the count
# pcm-agent's summary line reports, - for the other tools; cpu: user + system
# seconds, what the tool itself costs whatever the disk does)
run() {
	local name=$1 n=$2; shift 2
	sync; echo 3 >/proc/sys/vm/drop_caches; sleep 1
	python3 - "$name" "$n" "$@" >>"$B/results" <<'PY'
import os, re, subprocess, sys, time
name, n, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
b = os.environ["B"]
rss, out = os.path.join(b, "rss"), os.path.join(b, "out")
load = open("/proc/loadavg").read().split()[0]
t0 = time.monotonic()
with open(out, "w") as f:
    status = subprocess.call(["/usr/bin/time", "-f", "%M %U %S", "-o", rss] + cmd, stdout=f)
t = time.monotonic() - t0
text = open(out).read()
if status != 0:
    sys.stderr.write("bench-scale: %s failed: %s\n%s" % (name, " ".join(cmd), text))
    sys.exit(1)
maxrss, user, syst = open(rss).read().split()[-3:]
m = re.search(r"entries, (\d+) files,", text)
print("%s|%s|%.3f|%d|%s|%s|%.2f" % (name, n, t, int(maxrss), load, m.group(1) if m else "-",
                                     float(user) + float(syst)))
PY
}

gen() {	# DIR N: the tree
	python3 - "$1" "$2" <<'PY'
import os, random, sys
top, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
blob = os.urandom(4096)
flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
i = a = 0
os.makedirs(top, exist_ok=True)
while i < n:
    da = os.path.join(top, "a%04d" % a)
    a += 1
    os.mkdir(da)
    for b in range(20):
        if i >= n:
            break
        db = os.path.join(da, "b%02d" % b)
        os.mkdir(db)
        for j in range(min(rnd.randint(100, 1000), n - i)):
            fd = os.open("%s/f%04d.dat" % (db, j), flags, 0o644)
            os.write(fd, blob[:rnd.randint(1024, 4096)])
            os.close(fd)
            i += 1
PY
}

report() {	# title, the rows of results since the last report
	python3 - "$B/results" "$1" <<'PY'
import sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1]) if l.strip()]
print("\n== %s" % sys.argv[2])
print("%-12s %9s %9s %9s %9s %11s %6s %8s" % ("tool", "files", "seconds", "files/s", "pcm x",
      "peak RSS", "load", "CPU s"))
ref = [float(r[2]) for r in rows if r[0] == "pcm-agent"]
for name, n, t, rss, load, files, cpu in rows:
    t = float(t)
    print("%-12s %9s %9.2f %9.0f %9.2f %7.1f MiB %6s %8s" % (name, files if files != "-" else n,
          t, int(n) / t if t > 0 else 0, t / ref[0] if ref and ref[0] > 0 else 0,
          int(rss) / 1024, load, cpu))
PY
	cat "$B/results" >>"$B/all"
	: >"$B/results"
}
: >"$B/results"
: >"$B/all"

for n in $NS; do
	rm -rf "$B/src" "$B"/t-*
	t0=$(date +%s)
	gen "$B/src" "$n"
	sync
	echo "generated $n files ($(find "$B/src" -type d | wc -l) directories) in" \
		"$(($(date +%s) - t0)) s"
	cmp=0
	case " $CMP " in *" $n "* | *" all "*) cmp=1 ;; esac
	run pcm-agent "$n" $PCMS save --source "$B/src" --target "$B/t-pcm"
	if [ $cmp = 1 ]; then
		run "rsync -a" "$n" sh -c "rsync -a '$B/src/' '$B/t-rsync/' && sync"
		run "cp -a" "$n" sh -c "cp -a '$B/src' '$B/t-cp' && sync"
		rm -rf "$B/t-cp"
	fi
	report "$n files: full save"
	run pcm-agent "$n" $PCMS save --source "$B/src" --target "$B/t-pcm"
	if [ $cmp = 1 ]; then
		run "rsync -a" "$n" sh -c "rsync -a '$B/src/' '$B/t-rsync/' && sync"
	fi
	report "$n files: no-change save"
	[ $cmp = 1 ] || echo "(rsync -a and cp -a not run at $n files: BENCH_SCALE_CMP=$CMP)"
	if [ -n "${BENCH_SCALE_KEEP:-}" ]; then
		mkdir -p "$ROOT/kept-scale"
		rm -rf "${ROOT:?}/kept-scale/$n"
		mv "$B/t-pcm" "$ROOT/kept-scale/$n"
	fi
done

# the growth from the smallest N to each larger one, pcm-agent's rows
python3 - "$B/all" "$BOUND" <<'PY'
import sys
bound = float(sys.argv[2])
full, nochg = {}, {}
for l in open(sys.argv[1]):
    name, n, t, rss, load, files, cpu = l.rstrip("\n").split("|")
    if name != "pcm-agent":
        continue
    d = full if int(n) not in full else nochg
    d[int(n)] = (float(t), int(rss) / 1024, float(cpu))
ns = sorted(full)
print("\n== growth (pcm-agent; linear: time ratio = files ratio; RSS bound %g MiB;"
      " CPU: user + system seconds)" % bound)
for title, d in (("full save", full), ("no-change save", nochg)):
    for n in ns:
        t, r, c = d[n]
        print("%-15s %9d files %9.2f s %9.0f files/s %7.1f MiB %7.2f s CPU %s" % (title, n, t,
              n / t, r, c, "ok" if r <= bound else "OVER %g MiB" % bound))
    for n in ns[1:]:
        a, b = d[ns[0]], d[n]
        print("%-15s %d -> %d files (x%.1f): time x%.2f, CPU x%.2f, RSS x%.2f, RSS per file "
              "%+.0f B" % (title, ns[0], n, n / ns[0], b[0] / a[0],
              b[2] / a[2] if a[2] > 0 else 0, b[1] / a[1], (b[1] - a[1]) * 1048576 / (n - ns[0])))
PY
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end ($(date -u '+%F %H:%M UTC'))"
