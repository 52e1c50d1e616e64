#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench, small (the smoke run CI keeps alive): every dataset and
# scenario runs to the end with every tool, each row has a time and a peak
# RSS, and pcm-agent's saves of the three datasets verify.  No speed is
# asserted here: the figures come from BENCH_SIZE=large (tests/bench/).
. "$(dirname "$0")/lib.sh"
need_root
[ -x /usr/bin/time ] || skip "GNU time is not installed (packaging/install-deps installs it)"
echo "cluster_name = bench" >>"$PCM_CONF"	# as the bench names its saves
export AWS_EC2_METADATA_DISABLED=true

BENCH_SIZE=small BENCH_ROUNDS=1 BENCH_DIR=$T BENCH_KEEP_PCM=1 \
	bash "$PCM_TOP/tests/bench/bench-copy.sh" >"$T/bench.out" 2>&1 ||
	fail "bench-copy.sh failed: $(tail -n 20 "$T/bench.out")"
out=$(cat "$T/bench.out")
for ds in large small mixed; do
	for sc in "full save" "no-change save" restore; do
		assert_contains "$out" "== $ds: $sc" "scenario $ds: $sc"
	done
done
assert_contains "$out" "== large: 1 % changed" "the 1 % changed scenario"
python3 - "$T/bench.out" <<'PY' || fail "a table is incomplete: $out"
import re, sys
tables, cur = {}, None
for line in open(sys.argv[1]):
    if line.startswith("== "):
        cur = line[3:].strip()
        tables[cur] = {}
    elif cur and re.match(r"^\S.*\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+ MiB\s+[0-9.]+ MB$", line):
        name = re.split(r"\s{2,}", line.strip())[0]
        secs, ratio, rss = (float(x) for x in line.split()[-6:-3])
        tables[cur][name] = (secs, rss)
want = {"full save": ["pcm-agent", "cp -a", "rsync -aHAX --sparse"],
        "no-change save": ["pcm-agent", "rsync -aHAX --sparse"],
        "restore": ["pcm-agent", "cp -a"]}
bad = []
for title, rows in tables.items():
    sc = title.split(": ", 1)[1]
    for tool in want.get(sc, ["pcm-agent"]):
        if tool not in rows:
            bad.append("%s: no %s row" % (title, tool))
        elif rows[tool][0] <= 0 or rows[tool][1] <= 0:
            bad.append("%s: %s has no time or RSS" % (title, tool))
    if sc == "full save" and not title.startswith("small") and "dd direct (ceiling)" not in rows:
        bad.append("%s: no ceiling row" % title)
if len(tables) != 10:
    bad.append("%d tables, want 10" % len(tables))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
for ds in large small mixed; do
	[ -d "$T/kept/$ds" ] || fail "the bench kept no save of $ds"
	assert_rc 0 pcm verify --target "$T/kept/$ds"
	assert_contains "$OUT" "every checksum matches" "bench save of $ds verifies"
done
ok "make bench (small): 10 tables, every tool, saves that verify"
