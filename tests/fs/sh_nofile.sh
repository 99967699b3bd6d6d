#!/usr/bin/env bash
# Open files (issue 14): sbxfs raises its own soft RLIMIT_NOFILE to the hard
# limit at start, and a reader that meets EMFILE is told "Too many open
# files", never "Connection refused" (which sends users after a dead sbxd).
. "$TESTS_DIR/fs/common.sh"
command -v prlimit >/dev/null || skip "no prlimit"
# sbxfs logs the failed waits as warnings; they are what this test makes.
ALLOW_LOG_ERRORS='Too many open files'
real=$SBXFS
SBXFS=$T/sbxfs-lowlimit
printf '#!/bin/sh\nexec prlimit --nofile=256:8192 %s "$@"\n' "$real" >"$SBXFS"
chmod +x "$SBXFS"
up
soft=$(awk '/^Max open files/ {print $4}' "/proc/$FS_PID/limits")
hard=$(awk '/^Max open files/ {print $5}' "/proc/$FS_PID/limits")
eq "$hard" 8192 "hard limit given to sbxfs"
eq "$soft" 8192 "sbxfs's soft limit after start (was 256)"

mkdir "$MNT/b"
# twelve running processes (readers of one process share one long-poll)
for i in $(seq 1 12); do echo 'sleep 8' >"$MNT/b/exec/new"; done
eq "$(readlink "$MNT/b/exec/last")" 12 "exec/last"
# Leave sbxfs a few descriptors more than it holds, then park a reader on
# each running process's returncode.
nfd=$(ls "/proc/$FS_PID/fd" | wc -l)
prlimit --pid "$FS_PID" --nofile=$((nfd + 3)):8192
pids=()
for i in $(seq 1 12); do
	cat "$MNT/b/exec/$i/returncode" >"$T/rc.$i" 2>"$T/err.$i" &
	pids+=($!)
done
failed=0 ok=0
for i in $(seq 1 12); do
	if wait "${pids[$((i - 1))]}"; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
done
prlimit --pid "$FS_PID" --nofile=8192:8192
note "$ok readers got the returncode, $failed failed"
if ! sbx_extension_on; then
	# Without the extension each process is a StreamExec whose stream
	# brings the exit: a waiting reader takes no descriptor, so none runs
	# out and all get the code (the EMFILE rows need the long-poll).
	eq "$ok" 12 "readers of StreamExec processes with $((nfd + 3)) descriptors"
	echo ok
	exit 0
fi
[ "$failed" -gt 0 ] || fail "no reader ran out of descriptors (limit $((nfd + 3)))"
cat "$T"/err.* >"$T/errs"
grep -q "Too many open files" "$T/errs" || fail "readers' errors: $(sort -u "$T/errs")"
if grep -qi "refused" "$T/errs"; then fail "a reader was told: $(grep -i refused "$T/errs" | head -1)"; fi
grep -q "Too many open files" "$MNT/b/error" || fail "b/error: $(cat "$MNT/b/error")"
if grep -qi "refused" "$MNT/b/error"; then fail "b/error: $(cat "$MNT/b/error")"; fi
# with descriptors back, the same wait works
eq "$(cat "$MNT/b/exec/12/returncode")" 0 "returncode once the limit is back"
echo ok
