#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench's scale scenario (tests/bench/bench-scale.sh), small: 4000 and
# 30000 small files.  Every table is there, pcm-agent's saves hold every
# file (its summary and the MANIFEST's end line count them) and verify,
# and the peak RSS grows per file by no more than the manifest in memory
# costs: 112 bytes an entry plus its name (~10 bytes), for a full save and
# for a no-change save alike (the previous manifest is read beside the
# walk, not held: it was twice that when it was), with slack for noise.
# No time is asserted.  Under ASan (make asan) the bounds are not checked:
# its allocator keeps freed memory in quarantine and shadows every byte.
. "$(dirname "$0")/lib.sh"
need_root
[ -x /usr/bin/time ] || skip "GNU time is not installed (packaging/install-deps installs it)"
echo "cluster_name = bench" >>"$PCM_CONF"	# as the bench names its saves
export AWS_EC2_METADATA_DISABLED=true
FULL_MAX=${SCALE_FULL_BYTES:-170}	# bytes per file: peak RSS growth, full save
NOCHG_MAX=${SCALE_NOCHANGE_BYTES:-170}	# and no-change save
CHECK_RSS=1
if ldd "$PCM" | grep -q 'libasan'; then
	CHECK_RSS=0
	echo "peak RSS bounds not checked: $PCM is an ASan build"
fi

BENCH_SCALE=1 BENCH_SCALE_N="4000 30000" BENCH_DIR=$T BENCH_SCALE_KEEP=1 \
	bash "$PCM_TOP/tests/bench/bench-scale.sh" >"$T/bench.out" 2>&1 ||
	fail "bench-scale.sh failed: $(tail -n 20 "$T/bench.out")"
out=$(cat "$T/bench.out")
for n in 4000 30000; do
	for sc in "full save" "no-change save"; do
		assert_contains "$out" "== $n files: $sc" "table $n files: $sc"
	done
done
python3 - "$T/bench.out" "$FULL_MAX" "$NOCHG_MAX" "$CHECK_RSS" <<'PY' || fail "bench-scale: $out"
import re, sys
out, fmax, nmax = open(sys.argv[1]).read(), float(sys.argv[2]), float(sys.argv[3])
check_rss = sys.argv[4] == "1"
bad = []
tables = re.split(r"^== ", out, flags=re.M)[1:]
for t in tables:
    m = re.match(r"(\d+) files: (.*)", t)
    if not m:
        continue
    n, sc = int(m.group(1)), m.group(2).strip()
    rows = {re.split(r"\s{2,}", l.strip())[0]: l.split() for l in t.splitlines()[2:] if l.strip()}
    want = ["pcm-agent", "rsync -a"] + (["cp -a"] if sc == "full save" else [])
    for tool in want if n == 4000 else ["pcm-agent"]:
        if tool not in rows:
            bad.append("%d %s: no %s row" % (n, sc, tool))
    p = rows.get("pcm-agent")
    if p and int(p[1]) != n:
        bad.append("%d %s: pcm-agent saved %s files" % (n, sc, p[1]))
    if p and (float(p[2]) <= 0 or float(p[5]) <= 0):
        bad.append("%d %s: no time or RSS" % (n, sc))
for sc, mx in (("full save", fmax), ("no-change save", nmax)):
    m = re.search(r"^%s\s+4000 -> 30000 files .* RSS per file ([-+]\d+) B$" % sc, out, re.M)
    if not m:
        bad.append("no growth line for the %s" % sc)
    elif not check_rss:
        print("%s: %s B per file (not checked: ASan)" % (sc, m.group(1)))
    elif int(m.group(1)) > mx:
        bad.append("%s: peak RSS grows %s B per file, more than %g" % (sc, m.group(1), mx))
    else:
        print("%s: %s B per file (bound %g)" % (sc, m.group(1), mx))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
if [ "$CHECK_RSS" = 1 ]; then
	ok "peak RSS per file within bounds (full save <= $FULL_MAX B, no-change <= $NOCHG_MAX B)"
else
	ok "every growth line there (RSS bounds not checked under ASan)"
fi
for n in 4000 30000; do
	d=$(sed -n "s/^generated $n files (\([0-9]*\) directories).*/\1/p" "$T/bench.out")
	[ -n "$d" ] || fail "bench-scale printed no directory count for $n files"
	mf=$(find "$T/kept-scale/$n" -name MANIFEST)
	[ -f "$mf" ] || fail "the bench kept no save of $n files"
	assert_eq "$(tail -n 1 "$mf" | cut -d' ' -f1-2)" "end $((n + d))" \
		"the MANIFEST of $n files has every file and directory"
	assert_rc 0 pcm verify --target "$T/kept-scale/$n"
	assert_contains "$OUT" "every checksum matches" "the save of $n files verifies"
done
ok "make bench's scale scenario (small): every table, complete saves that verify"
