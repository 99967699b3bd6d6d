#!/usr/bin/env bash
# Regression (found by scripts/valgrind, where memcheck's missing openat2
# made sbxd answer ENOSYS): a file call that the sandbox's kernel answers
# with ENOSYS. The kernel's FUSE client takes ENOSYS from OPENDIR, OPEN,
# FLUSH or CREATE for "never send this again"; sbxfs passed it on, so every
# later opendir came without a handle and the next readdir crashed sbxfs.
# Through tests/fs/errno_proxy.py, whose file calls on paths with "ENOSYS"
# in them answer errno ENOSYS: the shell sees ENOTSUP, and the mount keeps
# listing, opening, creating and running commands.
. "$TESTS_DIR/fs/common.sh"
command -v python3 >/dev/null || skip "no python3 for the proxy"
start_sbxd
python3 "$TESTS_DIR/fs/errno_proxy.py" "$T/errno.sock" "$SOCK" ENOSYS 2>"$T/proxy.log" &
PROXY=$!
trap 'rc=$?; kill "$PROXY" 2>/dev/null; set +e; (exit $rc); _cleanup' EXIT
wait_for 10 test -S "$T/errno.sock"
# shellcheck disable=SC2086
SOCK=$T/errno.sock mount_sbxfs ${FS_MOUNT_OPTS:-}

mkdir "$MNT/box"
F=$MNT/box/files
wait_for 10 test -d "$F/etc"
# made past the proxy, straight through sbxd's own socket (without the
# extension, by the real Exec: makeDir is the extension's)
if sbx_extension_on; then
	api POST "/v1/sandboxes/$(sbx_id box):makeDir" -d '{"path": "/tmp/ENOSYS-listDir"}' >/dev/null
else
	api POST "/v1/sandboxes/$(sbx_id box):exec" -d '{"command": ["mkdir", "/tmp/ENOSYS-listDir"]}' >/dev/null
fi
api POST "/v1/sandboxes/$(sbx_id box):writeFile" -d '{"path": "/tmp/ENOSYS-readFile", "content": "eA=="}' >/dev/null
echo data >"$F/tmp/plain"

# a create is the extension's createFile, or without it the real
# writeFile of an empty file: the proxy answers ENOSYS to the call named
cname=ENOSYS-createFile
sbx_extension_on || cname=ENOSYS-writeFile
for round in 1 2; do
	# OPENDIR
	out=$(ls "$F/tmp/ENOSYS-listDir" 2>&1) && fail "ls of the ENOSYS directory succeeded: $out"
	case "$out" in *"not supported"*) ;; *) fail "ls of the ENOSYS directory, round $round: $out" ;; esac
	kill -0 "$FS_PID" 2>/dev/null || fail "sbxfs died after an ENOSYS answer"
	# opendir is still sent: the listing is real, not an empty one
	sbx_needs_extension 'listing a directory of files/ (the "files" extension)' \
		'ls "$F/tmp" | grep -qx plain || fail "files/tmp no longer lists after ENOSYS (round $round)"'
	sbx_needs_extension 'listing a directory of files/ (the "files" extension)' \
		'ls "$F/etc" | grep -qx passwd || fail "files/etc no longer lists after ENOSYS (round $round)"'
	# OPEN + READ
	out=$(cat "$F/tmp/ENOSYS-readFile" 2>&1) && fail "cat of an ENOSYS file succeeded: $out"
	case "$out" in *"not supported"*) ;; *) fail "cat of the ENOSYS file, round $round: $out" ;; esac
	eq "$(cat "$F/tmp/plain")" data "open and read after ENOSYS (round $round)"
	# CREATE
	out=$( (echo x >"$F/tmp/$cname$round") 2>&1) && fail "create of an ENOSYS file succeeded"
	case "$out" in *"not supported"*) ;; *) fail "create of the ENOSYS file, round $round: $out" ;; esac
	echo "new $round" >"$F/tmp/new$round"
	eq "$(cat "$F/tmp/new$round")" "new $round" "create after ENOSYS (round $round)"
done
# the clone files' close protocol (FLUSH) still works
id=$(start_proc box 'echo still; echo here')
eq "$(cat "$MNT/box/exec/$id/stdout")" "still
here" "a text command started at close after ENOSYS"
kill -0 "$FS_PID" 2>/dev/null || fail "sbxfs died"
grep -q "not supported" "$MNT/box/error" || fail "error file lacks the ENOSYS call: $(cat "$MNT/box/error")"
echo ok
