#!/usr/bin/env bash
# files/ errors and O_APPEND: rmdir of a non-empty dir is ENOTEMPTY, a name
# over 255 bytes ENAMETOOLONG, link/symlink ENOTSUP (rename too in the
# sandbox and process dirs; rename, chmod and times inside files/ are
# sh_files_posix's, and their ENOTSUP without the extension
# sh_no_extension's); plain touch creates; >> appends at the sandbox's end
# even while a process inside appends too.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/e"
F="$MNT/e/files"
mkdir "$F/tmp/full"
echo x >"$F/tmp/full/f"
out=$(rmdir "$F/tmp/full" 2>&1) && fail "rmdir of a non-empty dir succeeded"
printf '%s\n' "$out" | grep -q "Directory not empty" || fail "rmdir non-empty: $out"
[ -e "$F/tmp/full/f" ] || fail "rmdir removed the content"

long=$(printf 'n%.0s' $(seq 256))
out=$(touch "$F/tmp/$long" 2>&1) && fail "a 256-byte name was created"
printf '%s\n' "$out" | grep -q "File name too long" || fail "long name: $out"
out=$(mkdir "$F/tmp/$long" 2>&1) && fail "a 256-byte dir was created"
printf '%s\n' "$out" | grep -q "File name too long" || fail "long dir name: $out"
ok255=$(printf 'n%.0s' $(seq 255))
touch "$F/tmp/$ok255" || fail "a 255-byte name is fine"

for cmd in "mv $MNT/e/status $MNT/e/st2" "ln -s x $MNT/e/lnk" "mv $MNT/e $MNT/e2"; do
	out=$($cmd 2>&1) && fail "$cmd succeeded"
	printf '%s\n' "$out" | grep -q "Operation not supported" || fail "$cmd: $out"
done

out=$(mv "$F/tmp/full/f" "$MNT/e/f" 2>&1) && fail "mv out of files/ succeeded"
printf '%s\n' "$out" | grep -q "Permission denied\|Operation not supported" || fail "mv out of files/: $out"
touch "$F/tmp/new-by-touch" || fail "touch creating a file"
[ -f "$F/tmp/new-by-touch" ] || fail "touch did not create the file"
touch "$F/tmp/new-by-touch" || fail "touch of an existing file (times to now)"

# O_APPEND: the sandbox appends between our appends; nothing is overwritten
printf 'A\n' >"$F/tmp/app"
cat "$F/tmp/app" >/dev/null          # the kernel now knows size 2
id=$(start_proc e 'echo INSIDE >>/tmp/app')
eq "$(timeout 10 cat "$MNT/e/exec/$id/returncode")" 0 "inside append"
echo H >>"$F/tmp/app"
eq "$(cat "$F/tmp/app" | tr '\n' ' ')" "A INSIDE H " "appends from both sides"
exec 7>>"$F/tmp/app"
echo one >&7
id=$(start_proc e 'echo two >>/tmp/app')
eq "$(timeout 10 cat "$MNT/e/exec/$id/returncode")" 0 "inside append 2"
echo three >&7
exec 7>&-
eq "$(cat "$F/tmp/app" | tr '\n' ' ')" "A INSIDE H one two three " "one fd appending across an inside append"
echo ok
