#!/usr/bin/env bash
# files/ for callers other than root, and the fixes pjdfstest
# (scripts/pjdfstest) asked for, each checked on the host through the mount
# and inside the sandbox: a node made by another user belongs to that user
# (sbxd makes it as root), with the group of a setgid directory; a write by
# a non-owner clears setuid/setgid; chmod/chown through one name of a
# hard-linked file shows at once through the others; the kernel's own
# checks (default_permissions) then hold: chmod of another's file EPERM,
# unlink in a sticky directory EPERM; a path too long for the sandbox's
# PATH_MAX is ENAMETOOLONG, not EINVAL; tar --xattrs in and out;
# a file unlinked while open stays readable and writable through its fds.
. "$TESTS_DIR/fs/common.sh"
export TZ=UTC
umask 022
# allow_other: FUSE refuses every other user outright without it.
up -o allow_other

mkdir "$MNT/o"
F=$MNT/o/files/tmp
inside() {
	local id
	id=$(start_proc o "$1")
	cat "$MNT/o/exec/$id/stdout"
}
# same WHAT PATH FORMAT: host and sandbox stat agree; prints it
same() {
	local h s
	h=$(stat -c "$3" "$F/$2")
	s=$(inside "stat -c '$3' /tmp/$2")
	[ "$h" = "$s" ] || fail "$1: host says '$h', the sandbox '$s'"
	printf '%s\n' "$h"
}
# as UID GID CMD...: CMD as that user, in the current directory (setpriv
# keeps the cwd, so the private temp dir above need not be searchable).
as() {
	local u=$1 g=$2
	shift 2
	setpriv --reuid="$u" --regid="$g" --clear-groups "$@"
}

mkdir "$F/pub"
chmod 1777 "$F/pub"
mkdir "$F/sg"
chown 0:123 "$F/sg"
chmod 2777 "$F/sg"
cd "$F/pub"

# Nodes made by another user are that user's: file, dir, fifo, symlink.
as 65534 65534 sh -c 'umask 022; echo x >f; mkdir d; mkfifo p; ln -s f l'
for n in f d p; do
	eq "$(same "owner of $n" "pub/$n" %u:%g)" 65534:65534 "owner of a $n made by 65534"
done
eq "$(same "mode of f" pub/f %a)" 644 "mode of a file made by 65534"
eq "$(stat -c %u:%g "$F/pub/l")" 65534:65534 "owner of a link made by 65534 (host)"
eq "$(inside 'stat -c %u:%g /tmp/pub/l')" 65534:65534 "owner of a link made by 65534 (inside)"
# ... and the kernel's checks see it: the owner may chmod, others not.
as 65534 65534 chmod 600 f || fail "the owner could not chmod its file"
eq "$(same "chmod by owner" pub/f %a)" 600 "chmod by the owner"
out=$(as 65533 65533 chmod 644 f 2>&1) && fail "chmod of another user's file succeeded"
printf '%s\n' "$out" | grep -q "Operation not permitted" || fail "chmod of another's file: $out"
# Sticky directory: another user may not remove 65534's file.
out=$(as 65533 65533 rm -f f 2>&1) && fail "unlink in a sticky dir by a non-owner succeeded"
printf '%s\n' "$out" | grep -q "Operation not permitted" || fail "sticky unlink: $out"
[ -e "$F/pub/f" ] || fail "the file went"

# In a setgid directory the group is the directory's, the owner the maker.
cd "$F/sg"
as 65534 65534 sh -c 'echo y >g; mkdir e'
eq "$(same "owner in setgid dir" sg/g %u:%g)" 65534:123 "file in a setgid dir"
eq "$(same "dir in setgid dir" sg/e '%u:%g %a')" "65534:123 2755" "dir in a setgid dir"

# A write by a non-owner clears setuid, and setgid with group exec.
cd "$F/pub"
echo s >s4
chmod 4777 s4
as 65534 65534 sh -c 'echo more >>s4'
eq "$(same "write clears setuid" pub/s4 %a)" 777 "setuid after a non-owner's write"
echo s >s6
chmod 6777 s6
as 65534 65534 sh -c 'echo more >>s6'
eq "$(same "write clears setuid+setgid" pub/s6 %a)" 777 "set-id bits after a non-owner's write"
eq "$(cat s6)" "s
more" "the write itself"
# Root's own writes keep them (CAP_FSETID), as inside.
echo s >r4
chmod 4755 r4
echo more >>r4
eq "$(same "root's write" pub/r4 %a)" 4755 "setuid after root's write"

# Hard links: chmod/chown through one name shows through the others at
# once (their nodes are the mount's own, with their own cached attributes).
echo h >h0
ln h0 h1
ln h1 h2
stat h0 h1 h2 >/dev/null
chmod 0201 h1
chown 65534:65533 h1
for n in h0 h1 h2; do
	eq "$(stat -c '%a %u:%g %h' "$n")" "201 65534:65533 3" "attributes of $n after chmod/chown of h1"
done

# A path longer than the sandbox's PATH_MAX (sbxd resolves whole paths
# from the sandbox's /): ENAMETOOLONG, the kernel's answer for it.
cd "$F"
python3 - <<'EOF' || fail "long path"
import errno, os, sys
name = "d" * 250
# Walk down with chdir, so every host call is short: only the path from
# the sandbox's / (/tmp/ + 251 bytes a level) grows past PATH_MAX.
for depth in range(1, 40):
    try:
        os.mkdir(name)
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            sys.exit(f"mkdir at depth {depth}: {e}")
        break
    os.chdir(name)
else:
    sys.exit("every mkdir succeeded")
# /tmp/ + 16 levels is 4020 bytes: the 17th (4271) does not fit.
if depth != 17:
    sys.exit(f"ENAMETOOLONG at depth {depth}, want 17")
for what, call in (("stat", os.stat), ("create", lambda n: open(n, "w")), ("symlink", lambda n: os.symlink("x", n))):
    try:
        call(name)
        sys.exit(f"{what} of the too-long path succeeded")
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            sys.exit(f"{what}: {e}")
EOF

# fallocate: tests/fs/sh_files_fallocate.sh (every mode against the
# sandbox's own).

# tar --xattrs: user.* xattrs in and out again, as the sandbox has them.
mkdir -p "$T/xin/sub"
echo a >"$T/xin/a"
echo b >"$T/xin/sub/b"
python3 - "$T/xin" <<'EOF' || fail "setting xattrs"
import os, sys
d = sys.argv[1]
os.setxattr(d + "/a", "user.k", b"v1")
os.setxattr(d + "/a", "user.bin", bytes(range(256)))
os.setxattr(d + "/sub", "user.dir", b"on a dir")
os.setxattr(d + "/sub/b", "user.k", b"")
EOF
mkdir "$F/xt" "$T/xout"
tar --xattrs -C "$T/xin" -cf - . | tar --xattrs -C "$F/xt" -xf - || fail "tar --xattrs into files/"
tar --xattrs -C "$F/xt" -cf - . | tar --xattrs -C "$T/xout" -xf - || fail "tar --xattrs out of files/"
dump_xattrs() {
	python3 - "$1" <<'EOF'
import os, sys
root = sys.argv[1]
paths = set()
for dp, dns, fns in os.walk(root):
    paths.add(dp)
    paths.update(os.path.join(dp, f) for f in fns)
for p in sorted(paths):
    for k in sorted(x for x in os.listxattr(p) if x.startswith("user.")):
        print(os.path.relpath(p, root), k, os.getxattr(p, k).hex())
EOF
}
want=$(dump_xattrs "$T/xin")
[ "$(printf '%s\n' "$want" | grep -c user.)" = 4 ] || fail "the local tree's xattrs: $want"
eq "$(dump_xattrs "$F/xt")" "$want" "xattrs through the mount"
eq "$(dump_xattrs "$T/xout")" "$want" "xattrs after the round trip"
eq "$(inside 'python3 -c "import os; print(os.getxattr(\"/tmp/xt/sub\", \"user.dir\").decode())"')" "on a dir" "an xattr inside"

# A file unlinked while open keeps its bytes for its open files (renamed to
# a hidden name until the last close), as an unlinked inode would:
# tempfile's open + unlink, a log removed under its reader.
cd "$F"
python3 - <<'EOF' || fail "unlinked while open"
import os, sys, tempfile
fd = os.open("gone", os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"Hello, World!")
os.unlink("gone")
if os.path.exists("gone"):
    sys.exit("the name is still there")
st = os.fstat(fd)
if st.st_nlink != 0 or st.st_size != 13:
    sys.exit(f"fstat after unlink: nlink {st.st_nlink}, size {st.st_size}")
os.write(fd, b" More.")
if os.pread(fd, 100, 0) != b"Hello, World! More.":
    sys.exit("read after unlink")
os.close(fd)
with tempfile.TemporaryFile(dir=".") as f:
    f.write(b"x" * 100000)
    f.seek(0)
    if len(f.read()) != 100000:
        sys.exit("tempfile.TemporaryFile")
EOF
# The hidden names go at the last close (release comes just after close).
for _ in $(seq 50); do
	[ -z "$(inside 'ls -A /tmp | grep sbxfs-hidden')" ] && break
	sleep 0.1
done
eq "$(inside 'ls -A /tmp | grep -c sbxfs-hidden')" 0 "hidden names left after the last close"
cd /
echo ok
