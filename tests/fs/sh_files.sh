#!/usr/bin/env bash
# files/: the sandbox's own filesystem with ls, cat, cp, mkdir, rm.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/f"
ls "$MNT/f/files" | grep -qx etc || fail "files/ does not list etc"
grep -q root "$MNT/f/files/etc/passwd" || fail "cannot read etc/passwd"
mkdir "$MNT/f/files/tmp/d"
echo hello >"$MNT/f/files/tmp/d/a.txt"
eq "$(cat "$MNT/f/files/tmp/d/a.txt")" hello "written file"
id=$(start_proc f 'cat /tmp/d/a.txt')
eq "$(cat "$MNT/f/exec/$id/stdout")" hello "the sandbox sees the file"
head -c 200000 /dev/urandom >"$T/blob"
cp "$T/blob" "$MNT/f/files/tmp/d/blob"
cmp "$T/blob" "$MNT/f/files/tmp/d/blob" || fail "cp round trip differs"
eq "$(stat -c %s "$MNT/f/files/tmp/d/blob")" 200000 "size"
eq "$(ls "$MNT/f/files/tmp/d" | tr '\n' ' ')" "a.txt blob " "listing"
rm "$MNT/f/files/tmp/d/a.txt" "$MNT/f/files/tmp/d/blob"
rmdir "$MNT/f/files/tmp/d"
[ ! -e "$MNT/f/files/tmp/d" ] || fail "rmdir in files/ left the directory"
read_fails "$MNT/f/files/no/such" "No such file"
echo ok
