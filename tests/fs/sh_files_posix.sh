#!/usr/bin/env bash
# files/ behaves like a filesystem (sbxd's "posix" file extension): the
# mode given at create (after the writer's umask), chmod, chown, times
# with nanoseconds, truncate, rename in all its forms, and the errors the
# sandbox's kernel gives. Every result is checked twice: stat on the host
# through the mount, and stat inside the sandbox through exec/.
. "$TESTS_DIR/fs/common.sh"
command -v python3 >/dev/null || skip "no python3"
export TZ=UTC
umask 022
up

mkdir "$MNT/p"
F=$MNT/p/files/tmp
# inside CMD: CMD's stdout, run in the sandbox
inside() {
	local id
	id=$(start_proc p "$1")
	cat "$MNT/p/exec/$id/stdout"
}
# same WHAT HOSTPATH STAT_FORMAT: host and sandbox stat agree; prints it
same() {
	local h s
	h=$(stat -c "$3" "$F/$2")
	s=$(inside "stat -c '$3' /tmp/$2")
	[ "$h" = "$s" ] || fail "$1: host says '$h', the sandbox '$s'"
	printf '%s\n' "$h"
}
# ren FROM TO [FLAGS]: renameat2 on the host; prints ok or the errno name
ren() {
	python3 - "$1" "$2" "${3:-0}" <<'EOF'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, os.fsencode(sys.argv[1]), -100, os.fsencode(sys.argv[2]), int(sys.argv[3]))
print("ok" if r == 0 else errno.errorcode[ctypes.get_errno()])
EOF
}

# chmod +x of a script copied in, then run it in the sandbox.
printf '#!/bin/sh\necho script ran "$@"\n' >"$T/s.sh"
cp "$T/s.sh" "$F/s.sh"
eq "$(same "cp'd script" s.sh %a)" 644 "mode of a cp'd file (umask 022)"
chmod +x "$F/s.sh"
eq "$(same "chmod +x" s.sh %a)" 755 "mode after chmod +x"
id=$(start_proc p '/tmp/s.sh a b')
eq "$(cat "$MNT/p/exec/$id/stdout")" "script ran a b" "the script run inside"
eq "$(cat "$MNT/p/exec/$id/returncode")" 0 "the script's returncode"
chmod 4711 "$F/s.sh"
eq "$(same "chmod 4711" s.sh %a)" 4711 "setuid bit"

# The mode at create is the writer's, after its umask (a security matter:
# private files must not be readable by every user in the sandbox).
(umask 077; echo x >"$F/priv")
eq "$(same "umask 077 create" priv %a)" 600 "umask 077 file"
(umask 077; mkdir "$F/privdir")
eq "$(same "umask 077 mkdir" privdir %a)" 700 "umask 077 dir"
(umask 0; mkdir "$F/open"; echo x >"$F/open/f")
eq "$(same "umask 0 mkdir" open %a)" 777 "umask 0 dir (sbxd's own umask must not apply)"
eq "$(same "umask 0 create" open/f %a)" 666 "umask 0 file"
python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))' "$F/o600"
eq "$(same "open(O_CREAT, 0600)" o600 %a)" 600 "open(O_CREAT|O_EXCL, 0600)"
python3 -c 'import os,sys; os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)' "$F/o600" 2>"$T/excl" &&
	fail "O_EXCL create of an existing file succeeded"
grep -q FileExistsError "$T/excl" || fail "O_EXCL: $(cat "$T/excl")"

# install -m keeps the mode it is told; cp -p keeps mode and times.
install -m 755 "$T/s.sh" "$F/i755"
install -m 600 "$T/s.sh" "$F/i600"
eq "$(same "install -m 755" i755 %a)" 755 "install -m 755"
eq "$(same "install -m 600" i600 %a)" 600 "install -m 600"
cp "$T/s.sh" "$T/old"
chmod 640 "$T/old"
touch -d '2001-02-03 04:05:06.123456789' "$T/old"
cp -p "$T/old" "$F/old"
want=$(stat -c '%a %y' "$T/old")
eq "$(same "cp -p" old '%a %y')" "$want" "cp -p mode and mtime"
eq "$want" "640 2001-02-03 04:05:06.123456789 +0000" "the local file"

# touch: times with nanoseconds, atime and mtime apart, and "now".
echo t >"$F/t"
touch -d '2001-02-03 04:05:06.123456789' "$F/t"
eq "$(same "touch -d" t '%x|%y')" "2001-02-03 04:05:06.123456789 +0000|2001-02-03 04:05:06.123456789 +0000" "touch -d"
touch -m -d '2010-01-01 00:00:00.5' "$F/t"
eq "$(same "touch -m" t '%x|%y')" "2001-02-03 04:05:06.123456789 +0000|2010-01-01 00:00:00.500000000 +0000" "touch -m"
before=$(date +%s)
touch "$F/t"
[ "$(same "touch (now)" t %Y)" -ge "$before" ] || fail "touch did not set the time to now"
[ "$(same "ctime" t %Z)" -ge "$before" ] || fail "ctime not updated by touch"

# truncate to any size, up and down.
printf '0123456789' >"$F/tr"
truncate -s 4 "$F/tr"
eq "$(cat "$F/tr")" 0123 "truncated down"
truncate -s 100000 "$F/tr"
eq "$(same "truncate up" tr %s)" 100000 "truncated up"
eq "$(head -c 4 "$F/tr")" 0123 "bytes kept"

# Owners, links and blocks as the sandbox sees them.
chown 1234:4321 "$F/t"
eq "$(same "chown" t '%u:%g')" "1234:4321" "chown"
eq "$(same "nlink of a dir" open %h)" 2 "link count of a directory with no subdirectories"
head -c 65536 /dev/urandom >"$F/blocks"
[ "$(same "st_blocks" blocks %b)" -ge 128 ] || fail "st_blocks of 64 KiB: $(stat -c %b "$F/blocks")"
eq "$(du -k "$F/blocks" | cut -f1)" "$(inside 'du -k /tmp/blocks' | cut -f1)" "du"

# rename: plain, across directories, over a file, over an empty dir.
echo a >"$F/a"
mv "$F/a" "$F/b"
[ ! -e "$F/a" ] || fail "mv left the old name"
eq "$(inside 'cat /tmp/b')" a "mv a b"
chmod 700 "$F/b"   # the inode the kernel holds follows the rename
eq "$(same "chmod after mv" b %a)" 700 "chmod right after mv"
mkdir "$F/sub"
mv "$F/b" "$F/sub/"
eq "$(inside 'cat /tmp/sub/b')" a "mv across directories"
echo c >"$F/c"
mv -f "$F/c" "$F/sub/b"
eq "$(inside 'cat /tmp/sub/b')" c "mv over a file"
mkdir "$F/e1" "$F/e2" "$F/full"
touch "$F/full/x"
eq "$(ren "$F/e1" "$F/e2")" ok "rename over an empty dir"
eq "$(ren "$F/e2" "$F/full")" ENOTEMPTY "rename over a non-empty dir"
eq "$(ren "$F/sub/b" "$F/full")" EISDIR "rename of a file over a dir"
eq "$(ren "$F/full" "$F/sub/b")" ENOTDIR "rename of a dir over a file"
eq "$(ren "$F/nothing" "$F/x")" ENOENT "rename of nothing"
eq "$(ren "$F/full" "$F/full/x/y")" ENOTDIR "rename under a file"
eq "$(ren "$F/full" "$F/full/in")" EINVAL "rename of a dir into itself"
# RENAME_NOREPLACE (1) and RENAME_EXCHANGE (2)
echo 1 >"$F/x1"
echo 2 >"$F/x2"
eq "$(ren "$F/x1" "$F/x2" 1)" EEXIST "RENAME_NOREPLACE over a file"
eq "$(ren "$F/x1" "$F/x2" 2)" ok "RENAME_EXCHANGE"
eq "$(inside 'cat /tmp/x1 /tmp/x2' | tr '\n' ' ')" "2 1 " "exchanged contents"
eq "$(cat "$F/x1" "$F/x2" | tr '\n' ' ')" "2 1 " "exchanged contents on the host"
# A directory moves with what the kernel knows below it.
mkdir -p "$F/tree/deep"
echo deep >"$F/tree/deep/f"
cd "$F/tree/deep"
mv "$F/tree" "$F/moved"
eq "$(cat f)" deep "a cwd inside a moved directory"
cd "$T"
eq "$(inside 'cat /tmp/moved/deep/f')" deep "moved tree inside"
# Between two sandboxes: EXDEV, so mv copies.
mkdir "$MNT/q"
eq "$(ren "$F/x1" "$MNT/q/files/tmp/x1")" EXDEV "rename across sandboxes"
mv "$F/x1" "$MNT/q/files/tmp/x1"
eq "$(cat "$MNT/q/files/tmp/x1")" 2 "mv across sandboxes copies"

# An open file keeps writing to its file after a rename.
exec 3>"$F/of"
echo one >&3
mv "$F/of" "$F/of2"
echo two >&3
exec 3>&-
eq "$(inside 'cat /tmp/of2' | tr '\n' ' ')" "one two " "writes through an fd after mv"

# Editors and tools that save by temp file + rename.
printf 'one\ntwo\n' >"$F/sed"
chmod 640 "$F/sed"
sed -i s/one/uno/ "$F/sed"
eq "$(inside 'cat /tmp/sed' | tr '\n' ' ')" "uno two " "sed -i"
eq "$(same "sed -i keeps the mode" sed %a)" 640 "mode after sed -i"
python3 - "$F" <<'EOF'
import os, sys, tempfile
d = sys.argv[1]
fd, tmp = tempfile.mkstemp(dir=d)
os.write(fd, b"saved\n")
os.fchmod(fd, 0o644)
os.close(fd)
os.replace(tmp, os.path.join(d, "sed"))
EOF
eq "$(inside 'cat /tmp/sed')" saved "os.replace save"
eq "$(same "os.replace result" sed %a)" 644 "mode after os.replace"
[ -z "$(ls -a "$F" | grep '^tmp')" ] || fail "temp files left: $(ls -a "$F")"

# The boundary, checked on the host: links planted inside lead nowhere
# outside, and the host's own device nodes (bound into the sandbox's /dev)
# are never changed by sbxd.
echo marker >"$T/marker"
chmod 600 "$T/marker"
mkdir "$T/hostdir"
inside "ln -s $T/marker /tmp/evil; ln -s $T /tmp/evildir; ln -s / /tmp/up" >/dev/null
api POST "/v1/sandboxes/$(sbx_id p)":setFileAttrs -d "{\"path\":\"/tmp/evil\",\"mode\":511}" >"$T/ans"
grep -q EOPNOTSUPP "$T/ans" || fail "chmod of a planted link: $(cat "$T/ans")"
api POST "/v1/sandboxes/$(sbx_id p)":setFileAttrs -d "{\"path\":\"/tmp/evil\",\"uid\":1234,\"modifyTime\":\"2001-01-01T00:00:00Z\"}" >/dev/null
api POST "/v1/sandboxes/$(sbx_id p)":setFileAttrs -d "{\"path\":\"/tmp/evildir/marker\",\"mode\":511,\"size\":0}" >/dev/null
api POST "/v1/sandboxes/$(sbx_id p)":createFile -d "{\"path\":\"/tmp/up$T/created\",\"mode\":511}" >/dev/null
api POST "/v1/sandboxes/$(sbx_id p)":renameFile -d "{\"path\":\"/tmp/up$T/hostdir\",\"newPath\":\"/tmp/stolen\"}" >/dev/null
api POST "/v1/sandboxes/$(sbx_id p)":renameFile -d "{\"path\":\"/tmp/s.sh\",\"newPath\":\"/tmp/evildir/planted\"}" >/dev/null
eq "$(stat -c "%a %u %s" "$T/marker")" "600 0 7" "the host's marker file"
[ "$(stat -c %Y "$T/marker")" -gt 978307200 ] || fail "the host's marker got the planted time"
[ -d "$T/hostdir" ] || fail "a host directory was renamed"
[ ! -e "$T/created" ] && [ ! -e "$T/planted" ] || fail "a file was created on the host"
devmode=$(stat -c %a /dev/null)
out=$(chmod 600 "$MNT/p/files/dev/null" 2>&1) && fail "chmod of the sandbox's /dev/null succeeded"
printf '%s\n' "$out" | grep -q "Operation not permitted" || fail "chmod /dev/null: $out"
eq "$(stat -c %a /dev/null)" "$devmode" "the host's /dev/null mode"

# Nothing of this set an error for the sandbox.
grep -q 'ENOTSUP\|not supported' "$MNT/p/error" && fail "error file: $(cat "$MNT/p/error")"
echo ok
