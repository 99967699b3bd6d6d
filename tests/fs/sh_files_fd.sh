#!/usr/bin/env bash
# files/ by descriptor (issue 17, "fileFd"): against a local sbxd every
# files/ open gets the file's own descriptor from sbxd (SCM_RIGHTS over the
# unix socket) and sbxfs reads (splice), writes (pwrite), fsyncs and
# truncates on it. Checked on the host: 64 MiB in and out intact (sha256
# on both sides), the descriptor sbxfs holds is that very file (its inode
# in /proc/PID/fdinfo), a regular file, never O_PATH, O_RDONLY for a
# read-only open and for any open of a finished sandbox (whose writes stay
# EROFS), O_RDWR for a writable one; a process inside that renames the
# file away or swaps a link to a host path in while the host reads and
# writes never makes the host reach a host file (a marker file checked on
# the host); a caller other than root gets EACCES as before; a change made
# inside shows to the next open at once; -o no_splice takes no descriptor.
. "$TESTS_DIR/fs/common.sh"
export TZ=UTC
umask 022
up -o allow_other

mkdir "$MNT/b"
F=$MNT/b/files/tmp
inside() {
	local id
	id=$(start_proc b "$1")
	cat "$MNT/b/exec/$id/stdout"
	[ "$(cat "$MNT/b/exec/$id/returncode")" = 0 ] || fail "inside: '$1' failed"
}
# held "DEV INO": the fds of sbxfs whose file is that inode (the same
# numbers inside the sandbox and on the host: one kernel)
held() {
	local f
	for f in /proc/"$FS_PID"/fd/*; do
		[ "$(stat -L -c '%d %i' "$f" 2>/dev/null)" = "$1" ] && echo "${f##*/}"
	done
	return 0
}
# fdcheck WHAT "DEV INO" ACC: sbxfs holds exactly one fd of it, a regular file
# opened with access mode ACC (0 O_RDONLY, 2 O_RDWR), not O_PATH
fdcheck() {
	local fds n flags
	# (Behind a conformance run's recording proxy, which passes no
	# descriptor, the file calls serve every open: nothing to look at.)
	[ -z "${SBX_RECORD:-}" ] || return 0
	fds=$(held "$2")
	n=$(printf '%s\n' "$fds" | grep -c . || true)
	eq "$n" 1 "$1: descriptors of inode $2 in sbxfs"
	flags=$(awk '/^flags:/ {print $2}' "/proc/$FS_PID/fdinfo/$fds")
	eq "$(stat -L -c %F "/proc/$FS_PID/fd/$fds")" "regular file" "$1: the descriptor's type"
	eq $((8#$flags & 3)) "$3" "$1: the descriptor's access mode (flags $flags)"
	eq $((8#$flags & 8#10000000)) 0 "$1: O_PATH (flags $flags)"
}

# 64 MiB in and out.
head -c $((64 << 20)) /dev/urandom >"$T/big"
want=$(sha256sum <"$T/big" | cut -c1-64)
cp "$T/big" "$F/big" || fail "cp in"
eq "$(inside 'sha256sum /tmp/big' | cut -c1-64)" "$want" "64 MiB copied in, as the sandbox reads it"
cp "$F/big" "$T/out" || fail "cp out"
eq "$(sha256sum <"$T/out" | cut -c1-64)" "$want" "64 MiB copied out"
eq "$(dd if="$F/big" bs=1M 2>/dev/null | sha256sum | cut -c1-64)" "$want" "64 MiB read with 1 MiB blocks"
eq "$(tail -c 4096 "$F/big" | sha256sum)" "$(tail -c 4096 "$T/big" | sha256sum)" "a read at an offset"
# tar's 10 KiB records, both ways
mkdir "$T/tin" "$F/tdir"
cp "$T/big" "$T/tin/x"
tar -C "$T/tin" -cf - x | tar -C "$F/tdir" -xf - || fail "tar in"
eq "$(inside 'sha256sum /tmp/tdir/x' | cut -c1-64)" "$want" "tar in"
mkdir "$T/tout"
tar -C "$F/tdir" -cf - x | tar -C "$T/tout" -xf - || fail "tar out"
eq "$(sha256sum <"$T/tout/x" | cut -c1-64)" "$want" "tar out"

# The descriptors sbxfs holds while a file is open: that file, read-only
# for a read-only open, read-write for a writable one, gone at close.
ino=$(inside 'stat -c "%d %i" /tmp/big')
exec 5<"$F/big"
head -c 1 <&5 >/dev/null
fdcheck "read-only open" "$ino" 0
exec 5<&-
exec 6<>"$F/big"
fdcheck "read-write open" "$ino" 2
printf 'HEAD' >&6
exec 6>&-
sleep 0.3
[ -n "${SBX_RECORD:-}" ] || eq "$(held "$ino")" "" "descriptors of a closed file"
eq "$(inside 'head -c 4 /tmp/big')" HEAD "a write through the descriptor, inside"
# fsync, ftruncate and an append through the descriptor
python3 - "$F/big" <<'EOF' || fail "fsync / ftruncate / append through the descriptor"
import os, sys
f = os.open(sys.argv[1], os.O_RDWR)
os.ftruncate(f, 1000)
assert os.fstat(f).st_size == 1000, os.fstat(f).st_size
os.pwrite(f, b"tail", 996)
os.fsync(f)
os.close(f)
f = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(f, b"+app")
os.close(f)
assert os.stat(sys.argv[1]).st_size == 1004
EOF
eq "$(inside 'stat -c %s /tmp/big; tail -c 8 /tmp/big')" "$(printf '1004\ntail+app')" "ftruncate, pwrite, append, inside"

# A change inside shows to the next open at once (the page cache of the
# read before is dropped: the file is not what it was), and to an open
# file within the attribute timeout.
echo first >"$F/c"
eq "$(cat "$F/c")" first "read before the change"
inside 'echo second-longer >/tmp/c' >/dev/null
eq "$(cat "$F/c")" second-longer "the next open after a change inside"
inside 'echo third >/tmp/c' >/dev/null
eq "$(cat "$F/c")" third "the next open after a shorter change inside"
exec 5<"$F/c"
eq "$(head -c 5 <&5)" third "an open file"
inside 'printf fourth >/tmp/c' >/dev/null
sleep 1.2
python3 - "$F/c" <<'EOF' || fail "an open file after a change inside"
import os, sys
f = os.open(sys.argv[1], os.O_RDONLY)
assert os.pread(f, 100, 0) == b"fourth", os.pread(f, 100, 0)
EOF
exec 5<&-

# A caller other than root: the kernel's permission checks as before.
inside 'echo private >/tmp/priv; chmod 600 /tmp/priv; echo open >/tmp/pub; chmod 644 /tmp/pub' >/dev/null
# (setpriv keeps the cwd: the private temp dir above need not be searchable)
as() { (cd "$F" && setpriv --reuid=64011 --regid=64011 --clear-groups "$@"); }
out=$(as cat priv 2>&1) && fail "another user read a 0600 file: $out"
printf '%s\n' "$out" | grep -q "Permission denied" || fail "another user's read of a 0600 file: '$out'"
eq "$(as cat pub)" open "another user's read of a 0644 file"
out=$(as sh -c "echo x >>pub" 2>&1) && fail "another user wrote a 0644 file of root"
printf '%s\n' "$out" | grep -q "Permission denied" || fail "another user's write of a 0644 file: '$out'"
eq "$(inside 'cat /tmp/pub')" open "the 0644 file after another user's refused write"

# The boundary: a process inside renames the file the host reads and
# writes away and swaps in links to a host file (absolute, and climbing).
# An open descriptor is the file it was (or EIO, once the kernel saw
# another type at its name); nothing ever reaches the host's file.
echo "host secret $RANDOM$RANDOM" >"$T/secret"
chmod 644 "$T/secret"
secret_sum=$(sha256sum <"$T/secret")
inside "mkdir -p /tmp/race && echo original >/tmp/race/f && echo other >/tmp/race/g" >/dev/null
exec 7<"$F/race/f"
exec 8<>"$F/race/g"
race=$(start_proc b "i=0; while [ \$i -lt 400 ]; do
	mv /tmp/race/f /tmp/race/f.away; ln -s '$T/secret' /tmp/race/f; ln -sf '../../../../../../..$T/secret' /tmp/race/g.l
	mv /tmp/race/g /tmp/race/g.away; mv /tmp/race/g.l /tmp/race/g
	rm -f /tmp/race/f; mv /tmp/race/f.away /tmp/race/f; rm -f /tmp/race/g; mv /tmp/race/g.away /tmp/race/g
	i=\$((i + 1)); done; echo raced")
leak=0
for _ in $(seq 1 300); do
	# (The kernel may take the node for bad once a lookup of the name
	# shows a link where the open file was: EIO then, never other bytes.)
	got=$(python3 -c '
import os
try:
    print(os.pread(7, 64, 0).decode().strip())
except OSError as e:
    print("error", e.errno)')
	case $got in *"host secret"*) fail "the held descriptor read the host's file" ;; esac
	# (Without descriptors, behind a recording proxy, an open file is read
	# by its path again: what the name holds inside then, or ENOENT.)
	[ -n "${SBX_RECORD:-}" ] || case $got in original | "error 5") ;;
	*) fail "the held descriptor read '$got' while the sandbox swapped the name" ;; esac
	python3 -c '
import os
try:
    os.pwrite(8, b"other\n", 0)
except OSError as e:
    assert e.errno == 5 or os.environ.get("SBX_RECORD"), e' || fail "a write through a held descriptor"
	c=$(cat "$F/race/f" 2>/dev/null || true)
	case $c in *"host secret"*) leak=1 ;; esac
	c=$(cat "$F/race/g" 2>/dev/null || true)
	case $c in *"host secret"*) leak=1 ;; esac
	{ echo overwrite >"$F/race/g"; } 2>/dev/null || true
	grep -qx running "$MNT/b/exec/$race/status" || break
done
# (closing a node the kernel took for bad is EIO too)
{ exec 7<&- 8>&-; } 2>/dev/null
eq "$(cat "$MNT/b/exec/$race/stdout")" raced "the swapping loop inside"
eq "$leak" 0 "a host file read through a swapped name"
eq "$(sha256sum <"$T/secret")" "$secret_sum" "the host file after writes through swapped names"

# A finished sandbox: every descriptor is read-only, writes stay EROFS.
id=$(new_box 'echo result >/tmp/r.txt; stat -c "%d %i" /tmp/r.txt')
eq "$(cat "$MNT/$id/returncode")" 0 "the finished sandbox's main command"
rino=$(cat "$MNT/$id/stdout")
eq "$(cat "$MNT/$id/status")" completed "status of the finished sandbox"
G=$MNT/$id/files/tmp
eq "$(cat "$G/r.txt")" result "a read of a finished sandbox"
exec 5<"$G/r.txt"
head -c 1 <&5 >/dev/null
fdcheck "read-only open of a finished sandbox" "$rino" 0
exec 5<&-
exec 6<>"$G/r.txt"
fdcheck "read-write open of a finished sandbox" "$rino" 0
# (The file calls' write-behind answers EROFS at close instead.)
if [ -z "${SBX_RECORD:-}" ]; then
	out=$(python3 -c 'import os; os.write(6, b"x")' 2>&1) && fail "a write to a finished sandbox succeeded"
	printf '%s\n' "$out" | grep -q "Read-only file system" || fail "a write to a finished sandbox: '$out'"
fi
exec 6>&-
out=$(sh -c "echo x >>'$G/r.txt'" 2>&1) && fail "an append to a finished sandbox succeeded"
eq "$(cat "$G/r.txt")" result "the finished sandbox's file after the refused writes"

# -o no_splice: no descriptor, the file calls as before.
umount_sbxfs
mount_sbxfs -o no_splice
eq "$(sha256sum <"$F/big" | cut -c1-64)" "$(inside 'sha256sum /tmp/big' | cut -c1-64)" "a read with -o no_splice"
exec 5<"$F/big"
head -c 1 <&5 >/dev/null
eq "$(held "$ino")" "" "descriptors with -o no_splice"
exec 5<&-
echo ok
