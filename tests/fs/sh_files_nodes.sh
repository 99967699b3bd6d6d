#!/usr/bin/env bash
# files/ makes every kind of node the sandbox's file system holds (sbxd's
# "posix" extension :createSymlink, :linkFile, :makeNode, :statFileSystem):
# ln -s with the text stored as given, hard links with one inode and a
# link count as inside, FIFOs and socket nodes, devices refused (EPERM),
# statfs with the sandbox's real figures. Each result is checked on the
# host through the mount and inside the sandbox through exec/.
. "$TESTS_DIR/fs/common.sh"
command -v python3 >/dev/null || skip "no python3"
umask 022
up

mkdir "$MNT/n"
F=$MNT/n/files/tmp
inside() {
	local id
	id=$(start_proc n "$1")
	cat "$MNT/n/exec/$id/stdout"
}

# --- symlinks: the text as given, shown back under the safety rule.
echo data >"$F/target"
ln -s target "$F/rel"
eq "$(readlink "$F/rel")" target "readlink of a relative link made on the host"
eq "$(inside 'readlink /tmp/rel')" target "the link's text inside"
eq "$(cat "$F/rel")" data "reading through the new link"
mkdir "$F/d"
ln -s ../target "$F/d/up"
eq "$(inside 'readlink /tmp/d/up')" ../target "a climbing text stored as given"
eq "$(readlink "$F/d/up")" ../target "a climbing text that stays in files/ is shown as is"
ln -s /tmp/target "$F/abs"
eq "$(inside 'readlink /tmp/abs')" /tmp/target "an absolute text stored as given"
shown=$(readlink "$F/abs")
case "$shown" in /*) fail "an absolute text was shown to the host's kernel: $shown" ;; esac
eq "$(cat "$F/abs")" data "the absolute link leads to the sandbox's /tmp/target"
ln -s /etc/passwd "$F/pw"
eq "$(inside 'readlink /tmp/pw')" /etc/passwd "a link to /etc/passwd stored as given"
# The host's /etc/passwd is never what the link shows.
inside_pw=$(inside 'cat /etc/passwd')
eq "$(cat "$F/pw")" "$inside_pw" "the link reads the sandbox's /etc/passwd"
ln -s ../../../../../../../../etc/hostname "$F/deep"
case "$(readlink "$F/deep")" in *../../../../../../../../*) fail "a text climbing out of files/ shown as is" ;; esac
ln -s "$(printf 'x%.0s' $(seq 300))" "$F/longtext" 2>/dev/null || fail "a 300-byte text"
eq "$(inside 'readlink /tmp/longtext | wc -c')" 301 "a 300-byte text inside"
ln -s target "$F/rel" 2>"$T/err" && fail "ln -s over an existing name succeeded"
grep -q "File exists" "$T/err" || fail "ln -s over an existing name: $(cat "$T/err")"
eq "$(stat -c %F "$F/rel")" "symbolic link" "type of a link on the host"
# A dangling link is made too (tar restores those).
ln -s nowhere "$F/dangling"
eq "$(inside 'readlink /tmp/dangling')" nowhere "a dangling link"

# --- hard links: one inode, the link count as inside.
echo one >"$F/h1"
ln "$F/h1" "$F/h2"
eq "$(inside 'stat -c %h /tmp/h1')" 2 "link count inside after ln"
eq "$(stat -c %h "$F/h1")" 2 "link count on the host (the old name)"
eq "$(stat -c %h "$F/h2")" 2 "link count on the host (the new name)"
eq "$(stat -c %i "$F/h1")" "$(stat -c %i "$F/h2")" "one inode number for both names"
eq "$(stat -c %i "$F/h1")" "$(inside 'stat -c %i /tmp/h1')" "the inode number as inside"
[ "$(stat -c %i "$F/h1")" != "$(stat -c %i "$F/target")" ] || fail "two files share an inode number"
echo two >>"$F/h2"
eq "$(cat "$F/h1")" "$(printf 'one\ntwo')" "a write through one name is seen through the other"
find "$F" -maxdepth 1 -samefile "$F/h1" | sort >"$T/same"
eq "$(wc -l <"$T/same")" 2 "find -samefile pairs the two names"
# A hard link made inside shows the same way on the host.
inside 'echo x > /tmp/i1; ln /tmp/i1 /tmp/i2' >/dev/null
eq "$(stat -c %h "$F/i2")" 2 "link count of a link made inside"
eq "$(stat -c %i "$F/i1")" "$(stat -c %i "$F/i2")" "inode of a link made inside"
rm "$F/h2"
eq "$(stat -c %h "$F/h1")" 1 "link count after rm of one name"
ln "$F/d" "$F/dlink" 2>/dev/null && fail "a hard link to a directory"
ln "$F/h1" "$F/target" 2>"$T/err" && fail "ln over an existing name succeeded"
grep -q "File exists" "$T/err" || fail "ln over an existing name: $(cat "$T/err")"
# A hard link to a symlink links the symlink itself (link(2) on Linux).
python3 -c 'import os,sys; os.link(sys.argv[1], sys.argv[2], follow_symlinks=False)' "$F/rel" "$F/rel2"
eq "$(inside 'readlink /tmp/rel2')" target "a hard link of a symlink is that symlink"
# Between two sandboxes: EXDEV, as link(2) across file systems.
mkdir "$MNT/n2"
ln "$F/h1" "$MNT/n2/files/tmp/x" 2>"$T/err" && fail "a hard link across sandboxes"
grep -q "cross-device" "$T/err" || fail "link across sandboxes: $(cat "$T/err")"

# --- FIFOs and sockets; devices refused.
mkfifo -m 0640 "$F/fifo"
eq "$(stat -c %F "$F/fifo")" fifo "type of a FIFO on the host"
eq "$(inside 'stat -c "%F %a" /tmp/fifo')" "fifo 640" "the FIFO inside"
(umask 077; mkfifo "$F/fifo2")
eq "$(inside 'stat -c %a /tmp/fifo2')" 600 "umask 077 on mkfifo"
python3 - "$F/sock" <<'EOF'
import os, stat, sys
os.mknod(sys.argv[1], stat.S_IFSOCK | 0o600)
EOF
eq "$(stat -c %F "$F/sock")" socket "type of a socket node on the host"
eq "$(inside 'stat -c "%F %a" /tmp/sock')" "socket 600" "the socket node inside"
# Binding a unix socket on the host (what a server does): the node is made.
python3 - "$F/bound" <<'EOF' || fail "bind of a unix socket in files/"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.close()
EOF
eq "$(inside 'stat -c %F /tmp/bound')" socket "a bound socket's node inside"
for dev in "c 1 3" "b 7 0"; do
	# shellcheck disable=SC2086
	mknod "$F/dev" $dev 2>"$T/err" && fail "mknod $dev succeeded"
	grep -q "Operation not permitted" "$T/err" || fail "mknod $dev: $(cat "$T/err")"
done
eq "$(inside 'ls /tmp/dev 2>&1 | grep -c "No such"')" 1 "no device node inside"
# The host's own /dev/null opened through files/dev/null is never a
# device: a device shown here has no device number.
if [ -e "$MNT/n/files/dev/null" ] && [ "$(stat -c %F "$MNT/n/files/dev/null")" = "character special file" ]; then
	eq "$(stat -c %t:%T "$MNT/n/files/dev/null")" 0:0 "device numbers of a device shown"
fi
# rm of each kind through the mount.
rm "$F/fifo" "$F/sock" "$F/rel2" "$F/dangling"
eq "$(inside 'ls /tmp/fifo /tmp/sock /tmp/rel2 /tmp/dangling 2>&1 | grep -c "No such"')" 4 "removed nodes inside"

# --- xattrs: user.* through to the sandbox, others not reachable.
echo x >"$F/xa"
python3 - "$F/xa" <<'EOF' || fail "xattrs through the mount"
import errno, os, sys
p = sys.argv[1]
os.setxattr(p, "user.one", b"1")
os.setxattr(p, "user.bin", bytes(range(256)) * 4)
assert os.getxattr(p, "user.one") == b"1"
assert os.getxattr(p, "user.bin") == bytes(range(256)) * 4
assert sorted(os.listxattr(p)) == ["user.bin", "user.one"], os.listxattr(p)
def err(f, *a):
    try:
        f(*a)
    except OSError as e:
        return errno.errorcode[e.errno]
    return "ok"
r = err(os.setxattr, p, "user.one", b"2", os.XATTR_CREATE); assert r == "EEXIST", r
assert err(os.setxattr, p, "user.none", b"2", os.XATTR_REPLACE) == "ENODATA"
assert err(os.getxattr, p, "user.none") == "ENODATA"
r = err(os.setxattr, p, "trusted.x", b"1"); assert r in ("EOPNOTSUPP", "ENOTSUP"), r
# Namespaces files/ does not carry answer EOPNOTSUPP, as the kernel does
# for a file system without them (not ENODATA, which would deny an ACL
# or a label the file may have inside).
for name in ("security.selinux", "system.posix_acl_access", "trusted.x"):
    r = err(os.getxattr, p, name); assert r in ("EOPNOTSUPP", "ENOTSUP"), (name, r)
    r = err(os.removexattr, p, name); assert r in ("EOPNOTSUPP", "ENOTSUP"), (name, r)
os.setxattr(p, "user.gone", b"g")
os.removexattr(p, "user.gone")
assert err(os.removexattr, p, "user.gone") == "ENODATA"
EOF
# ls -l of 100 entries asks the device once for an ACL and once for a
# label, not every entry (each would be a FUSE request).
if command -v strace >/dev/null; then
	mkdir "$F/many"
	for i in $(seq 1 100); do : >"$F/many/f$i"; done
	strace -f -c -o "$T/ls.strace" -e trace=getxattr,lgetxattr ls -l "$F/many" >/dev/null ||
		fail "ls -l under strace"
	calls=$(awk '$NF ~ /getxattr$/ { n += $4 } END { print n + 0 }' "$T/ls.strace")
	[ "$calls" -le 4 ] || fail "ls -l of 100 entries asked $calls xattrs: $(cat "$T/ls.strace")"
	rm -r "$F/many"
else
	note "no strace: the xattr questions of ls -l not counted"
fi
# The sandbox's own view, and one set inside seen on the host.
have=$(inside 'command -v python3 || command -v setfattr')
[ -n "$have" ] || skip_xattr_inside=1
if [ -z "${skip_xattr_inside:-}" ]; then
	case "$have" in
	*python3) inside 'python3 -c "import os; print(os.getxattr(\"/tmp/xa\", \"user.one\").decode()); os.setxattr(\"/tmp/xa\", \"user.made\", b\"inside\")"' >"$T/xin" ;;
	*) inside 'getfattr --only-values -n user.one /tmp/xa; echo; setfattr -n user.made -v inside /tmp/xa' >"$T/xin" ;;
	esac
	eq "$(head -1 "$T/xin")" 1 "the xattr inside"
	eq "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.made").decode())' "$F/xa")" inside \
		"an xattr set inside, read on the host"
else
	note "no getfattr or python3 in the image: the sandbox's view of xattrs not checked"
fi

# --- statfs: the sandbox's root file system, not zeros.
read -r hb hf <<<"$(stat -f -c '%b %S' "$MNT/n/files/")"
read -r sb sf <<<"$(inside "stat -f -c '%b %S' /")"
eq "$hb:$hf" "$sb:$sf" "statfs of files/ against the sandbox's /"
[ "$hb" -gt 0 ] || fail "statfs shows no blocks"
df "$MNT/n/files/" >/dev/null || fail "df of files/"

echo ok
