#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 11, item 5: the cost of a save, a verify and a restore is that of
# the data allocated, not of the apparent size.  A 16 TiB sparse file with
# 4 KiB of data (any user can make one in /scratch) saves, verifies and
# restores in well under a second each (limit 1 s; the old checksum hashed
# the holes as zeros: about 11 minutes each here, cut at 20 s).  The restored
# file has the data where it was, the size, and holes elsewhere; a damaged
# byte of its data is still found by verify.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

cat >>"$PCM_CONF" <<CONF
cluster_name = sparse
CONF
loopfs src xfs 300
loopfs tgt xfs 300
loopfs dst xfs 300
S=$T/src TG=$T/tgt D=$T/dst

truncate -s 16T "$S/huge"
head -c 4096 /dev/urandom >"$T/data"
dd if="$T/data" of="$S/huge" bs=4096 seek=$(((8 << 40) / 4096 + 3)) conv=notrunc status=none
printf 'small\n' >"$S/small"

timed() {	# what cmd...: run it (20 s at most), fail past 1 s
	local what=$1 t0 t1 rc=0
	shift
	t0=$(date +%s%N)
	timeout 20 "$@" >"$T/timed.log" 2>&1 || rc=$?
	t1=$(date +%s%N)
	cat "$T/timed.log"
	[ $rc -eq 0 ] || fail "$what exited $rc"
	ms=$(((t1 - t0) / 1000000))
	echo "$what: $ms ms"
	[ $ms -lt 1000 ] || fail "$what took $ms ms (the holes cost time)"
}
timed "save" "$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG"
timed "verify" "$PCM" -c "$PCM_CONF" verify --target "$TG"
timed "restore" "$PCM" -c "$PCM_CONF" restore --from "$TG" --to "$D"
assert_eq "$(stat -c %s "$D/huge")" $((16 << 40)) "restored size"
python3 - "$D/huge" "$T/data" $(((8 << 40) + 3 * 4096)) <<'PY' || fail "restored data or holes differ"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
want, off = open(sys.argv[2], 'rb').read(), int(sys.argv[3])
d = os.lseek(fd, 0, os.SEEK_DATA)
assert d <= off, "no data where it was"
h = os.lseek(fd, d, os.SEEK_HOLE)
assert h >= off + len(want) and h - d <= 1 << 20, "data extent %d-%d" % (d, h)
assert os.pread(fd, len(want), off) == want, "data differs"
assert os.pread(fd, off - d, d) == bytes(off - d), "garbage before the data"
try:
    nd = os.lseek(fd, h, os.SEEK_DATA)
    assert False, "more data at %d" % nd
except OSError:
    pass
PY
assert_eq "$(cat "$D/small")" small "the small file"
ok "16 TiB sparse file with 4 KiB of data: save, verify, restore under 1 s each"

# the checksum still covers the data and the place of the data
sd=$(savedir_of "$TG")
obj=$(awk '$3 == "huge" { print $11 }' "$sd/MANIFEST")
of=$(ls "$sd"/objects/*/"$(printf %016x "0x$obj")")
python3 - "$of" $(((8 << 40) + 3 * 4096 + 100)) <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
off = int(sys.argv[2])
b = os.pread(fd, 1, off)
os.pwrite(fd, bytes([b[0] ^ 0xff]), off)
PY
assert_rc 1 pcm verify --target "$TG"
assert_contains "$OUT" "huge: checksum mismatch" "damaged data found"
ok "a damaged byte in the data of the sparse file is found"
