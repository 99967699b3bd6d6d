#!/usr/bin/env bash
# Unknown names are ENOENT everywhere; read-only files refuse writes;
# rmdir of an unknown sandbox; rmdir removes the directory.
. "$TESTS_DIR/fs/common.sh"
up

read_fails "$MNT/nosuch/status" "No such file"
mkdir "$MNT/e"
read_fails "$MNT/e/nosuch" "No such file"
read_fails "$MNT/e/exec/42/stdout" "No such file"
read_fails "$MNT/e/exec/0/stdout" "No such file"
read_fails "$MNT/e/exec/abc/stdout" "No such file"
if readlink "$MNT/e/exec/last" >/dev/null 2>&1; then fail "exec/last exists before any exec"; fi
id=$(start_proc e 'true')
read_fails "$MNT/e/exec/$id/nosuch" "No such file"
write_fails "$MNT/e/status" x "Permission denied\|Read-only\|Bad file"
write_fails "$MNT/e/exec/$id/stdout" x "Permission denied\|Read-only\|Bad file"
if rmdir "$MNT/nosuch" 2>/dev/null; then fail "rmdir of an unknown sandbox succeeded"; fi
if mkdir "$MNT/e/sub" 2>/dev/null; then fail "mkdir inside a sandbox dir succeeded"; fi
rmdir "$MNT/e"
read_fails "$MNT/e/status" "No such file"
echo ok
