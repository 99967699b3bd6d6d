#!/usr/bin/env bash
# fallocate(2) through files/ is the sandbox's own (sbxd's :allocateFile):
# each mode is run on a file through the mount and on an identical file
# inside the sandbox, and the two must agree on the outcome (success or
# the errno), the size, st_blocks and the bytes (sha256). Modes the
# kernel's FUSE client never sends (collapse, insert: EOPNOTSUPP on the
# host before sbxfs sees them) are checked to fail that way. The wire
# call itself: a bad range is 400 naming the field, a finished sandbox
# EROFS.
. "$TESTS_DIR/fs/common.sh"
command -v python3 >/dev/null || skip "no python3"
umask 022
up

mkdir "$MNT/a"
F=$MNT/a/files/tmp
inside() { box_out a "$1"; }

# One helper for both sides: fill PATH with 256 KiB of non-zero bytes,
# or fallocate(PATH, MODE, OFF, LEN) through libc and print "ok" or the
# errno's name, then the file's size, st_blocks and sha256.
cat >"$F/fa.py" <<'EOF'
import ctypes, errno, hashlib, os, sys
path, what = sys.argv[1], sys.argv[2]
if what == "fill":
    with open(path, "wb") as f:
        f.write(bytes((i % 251) + 1 for i in range(262144)))
    sys.exit(0)
mode, off, ln = (int(x, 0) for x in sys.argv[3:6])
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
fd = os.open(path, os.O_RDWR)
rc = libc.fallocate(fd, mode, off, ln)
res = "ok" if rc == 0 else errno.errorcode.get(ctypes.get_errno(), "?")
os.close(fd)
st = os.stat(path)
with open(path, "rb") as f:
    h = hashlib.sha256(f.read()).hexdigest()
print(res, st.st_size, st.st_blocks, h)
EOF

KEEP=0x01 PUNCH=0x02 COLLAPSE=0x08 ZERO=0x10 INSERT=0x20
# case NAME MODE OFF LEN [WANT]: the same fallocate on both sides; WANT,
# when given, is the outcome both must have.
n=0
case_() {
	local name=$1 mode=$2 off=$3 len=$4 want=${5:-} h s
	n=$((n + 1))
	python3 "$F/fa.py" "$F/h$n" fill || fail "$name: fill through the mount"
	inside "python3 /tmp/fa.py /tmp/s$n fill" >/dev/null
	h=$(python3 "$F/fa.py" "$F/h$n" x "$mode" "$off" "$len") || fail "$name: host side"
	s=$(inside "python3 /tmp/fa.py /tmp/s$n x $mode $off $len")
	[ -n "$s" ] || fail "$name: nothing from inside"
	[ "$h" = "$s" ] || fail "$name: through the mount '$h', inside '$s'"
	[ -z "$want" ] || [ "${h%% *}" = "$want" ] || fail "$name: '$h', want $want"
	note "$name: $h"
}
case_ "allocate past the end" 0 0 1048576 ok
case_ "allocate inside" 0 4096 8192 ok
case_ "keep size past the end" $KEEP 0 4194304 ok
case_ "punch a hole" $((PUNCH | KEEP)) 4096 65536
case_ "punch without keep size" $PUNCH 4096 65536 ENOTSUP
case_ "zero a range" $ZERO 0 8192
case_ "zero a range, keep size" $((ZERO | KEEP)) 200000 200000
case_ "zero and punch at once" $((ZERO | PUNCH | KEEP)) 0 4096 ENOTSUP
# Whatever the sandbox's layer supports, the punched bytes read as zeros
# and the size stands (when the punch succeeded).
python3 "$F/fa.py" "$F/p" fill
if [ "$(python3 "$F/fa.py" "$F/p" x $((PUNCH | KEEP)) 0 4096 | cut -d' ' -f1,2)" = "ok 262144" ]; then
	eq "$(head -c 4096 "$F/p" | tr -d '\000' | wc -c)" 0 "a punched range reads as zeros"
	eq "$(tail -c +4097 "$F/p" | head -c 1 | od -An -tu1 | tr -d ' ')" $(((4096 % 251) + 1)) "bytes after the hole stay"
fi
# collapse / insert: the kernel's FUSE client refuses them (EOPNOTSUPP, which Python names ENOTSUP)
# before any request, whatever the layer could do.
python3 "$F/fa.py" "$F/c" fill
eq "$(python3 "$F/fa.py" "$F/c" x $COLLAPSE 0 4096 | cut -d" " -f1)" ENOTSUP "collapse through the mount"
eq "$(python3 "$F/fa.py" "$F/c" x $INSERT 0 4096 | cut -d' ' -f1)" ENOTSUP "insert through the mount"
# util-linux's fallocate and posix_fallocate, as users call them.
if command -v fallocate >/dev/null; then
	fallocate -l 1M "$F/u" || fail "fallocate -l 1M"
	eq "$(inside 'stat -c %s /tmp/u')" 1048576 "fallocate -l inside"
	eq "$(stat -c %s "$F/u")" 1048576 "fallocate -l through the mount"
fi
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT); os.posix_fallocate(fd, 0, 2097152); os.close(fd)' "$F/pf" ||
	fail "posix_fallocate"
eq "$(inside 'stat -c %s /tmp/pf')" 2097152 "posix_fallocate's size inside"

# The wire call: a bad range is a 400 naming its field; a directory is
# not a regular file; the answer is the entry afterwards.
S=/v1/sandboxes/$(sbx_id a)
[ "$S" != /v1/sandboxes/ ] || fail "no id for sandbox a"
eq "$(api_status POST "$S:allocateFile" -d '{"path":"/tmp/h1","offset":"0","length":"0"}')" 400 "allocateFile of length 0"
api POST "$S:allocateFile" -d '{"path":"/tmp/h1","offset":"-1","length":"1"}' | grep -q '"offset"' ||
	fail "allocateFile at offset -1: the field is not named"
eq "$(api_status POST "$S:allocateFile" -d '{"path":"/tmp","length":"1"}')" 400 "allocateFile of a directory"
out=$(api POST "$S:allocateFile" -d '{"path":"/tmp/h1","length":"5000000"}')
printf '%s\n' "$out" | grep -q '"size":"5000000"' || fail "allocateFile's entry: $out"
eq "$(inside 'stat -c %s /tmp/h1')" 5000000 "allocateFile's size inside"
echo ok
