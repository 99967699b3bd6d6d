#!/usr/bin/env bash
# files/ write-behind (fs/files.c): small contiguous writes (tar's 10 KiB
# records) are held on the open file and sent in few raw writeFile calls,
# yet nothing through the mount ever sees them missing (stat, a read
# through another descriptor, a listing), the sandbox has them at the
# writer's close, fsync sends them, and an error of a held write is not
# lost: a full disk fails write(2) or close(2), never neither. Service
# calls are counted in the recorder's log (tests/conformance/recorder.py).
# Its own log always, so the counts are this test's alone; under a
# conformance run (an outer SBX_RECORD) it is appended to that log at the
# end, so its exchanges are judged too (never removed: it is shared).
outer_rec=${SBX_RECORD:-}
rec=$(mktemp /tmp/sbx-wb-rec.XXXXXX)
export SBX_RECORD=$rec
. "$TESTS_DIR/fs/common.sh"
trap '[ -z "$outer_rec" ] || record_append "$rec" "$outer_rec"; rm -f "$rec"; _cleanup' EXIT
command -v python3 >/dev/null || skip "no python3"
# A small writable layer, for the full-disk case below.
start_sbxd --max-disk 64M
mount_sbxfs
mkdir "$MNT/w"
F=$MNT/w/files/tmp
inside() {
	local id
	id=$(start_proc w "$1")
	cat "$MNT/w/exec/$id/stdout"
}
writes() { grep -c ':writeFile' "$rec" || true; }

# 8 MiB in 10 KiB writes: the bytes arrive whole, in a few calls.
head -c 8388608 /dev/urandom >"$T/blob"
w0=$(writes)
dd if="$T/blob" of="$F/blob" bs=10k status=none || fail "dd into files/"
n=$(( $(writes) - w0 ))
note "8 MiB in 10 KiB writes: $n writeFile calls"
[ "$n" -le 8 ] || fail "8 MiB in 10 KiB writes took $n writeFile calls (want <= 8, not ~820)"
cmp "$T/blob" "$F/blob" || fail "the copy differs (read back through the mount)"
eq "$(inside 'sha256sum < /tmp/blob')" "$(sha256sum <"$T/blob")" "the sandbox's copy"

# Held bytes are seen at once through the mount: stat, another fd, ls.
python3 - "$F/held" <<'EOF' || fail "held bytes"
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(10):
    os.write(fd, bytes([65 + i]) * 10240)
st = os.stat(p)
if st.st_size != 102400:
    sys.exit(f"stat while held: size {st.st_size}")
with open(p, "rb") as f:
    data = f.read()
if data != b"".join(bytes([65 + i]) * 10240 for i in range(10)):
    sys.exit(f"read through another fd: {len(data)} bytes, not the written ones")
if os.path.getsize(p) != 102400 or "held" not in os.listdir(os.path.dirname(p)):
    sys.exit("listing")
os.write(fd, b"tail")
os.fsync(fd)
print(os.path.getsize(p))
os.close(fd)
EOF
eq "$(inside 'stat -c %s /tmp/held')" 102404 "size inside after fsync and close"

# fsync alone makes the sandbox see them (no close yet).
python3 - "$F/synced" "$MNT/w/exec/new" <<'EOF' || fail "fsync"
import os, sys, time
p, new = sys.argv[1], sys.argv[2]
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * 5000)
os.fsync(fd)
with open(new, "r+") as f:
    f.write("stat -c %s /tmp/synced\n")
    f.flush()
    pid = f.readline().strip()
d = os.path.join(os.path.dirname(new), pid)
with open(os.path.join(d, "returncode")) as f:
    f.read()
with open(os.path.join(d, "stdout")) as f:
    got = f.read().strip()
if got != "5000":
    sys.exit(f"the sandbox saw {got} bytes after fsync")
os.close(fd)
EOF

# Two descriptors of one file: bytes held on one never land after the
# other's later write of the same range.
python3 - "$F/two" <<'EOF' || fail "two descriptors"
import os, sys
p = sys.argv[1]
a = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
b = os.open(p, os.O_WRONLY)
os.write(a, b"a" * 8192)
os.pwrite(b, b"b" * 4096, 0)
os.close(a)
os.close(b)
with open(p, "rb") as f:
    got = f.read()
if got != b"b" * 4096 + b"a" * 4096:
    sys.exit(f"got {got[:8]!r}...{got[-8:]!r} ({len(got)} bytes)")
EOF

# A full writable layer: some write(2) or the close(2) fails with ENOSPC.
python3 - "$F/full" <<'EOF' || fail "full disk"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
failed = None
try:
    for _ in range(100 * 1024 * 1024 // 10240):
        os.write(fd, b"z" * 10240)
except OSError as e:
    failed = e
try:
    os.close(fd)
except OSError as e:
    failed = failed or e
if failed is None:
    sys.exit("100 MiB into a 64 MiB layer: no write and no close failed")
if failed.errno != errno.ENOSPC:
    sys.exit(f"failed with {failed}, not ENOSPC")
EOF
rm -f "$F/full"
echo ok
