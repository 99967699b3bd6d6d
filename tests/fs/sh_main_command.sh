#!/usr/bin/env bash
# A sandbox with a main command (Sandbox.run): created through the root
# clone file, waited for with a timeout, its returncode, stdout, status and
# info; idle sandboxes from an empty line and from {}.
. "$TESTS_DIR/fs/common.sh"
up

box=$(new_box 'sleep 0.5; echo done; echo warn >&2; exit 7')
[ -d "$MNT/$box" ] || fail "no directory $box"
eq "$(cat "$MNT/$box/status")" running "status while running"
t0=$(ms)
rc=$(timeout 20 cat "$MNT/$box/returncode") || fail "returncode read failed or timed out"
t1=$(ms)
eq "$rc" 7 "returncode"
[ $((t1 - t0)) -ge 200 ] || fail "returncode answered before the command ended ($((t1 - t0)) ms)"
if sbx_extension_on; then
	eq "$(cat "$MNT/$box/stdout")" done "stdout"
	eq "$(stat -c %s "$MNT/$box/stdout")" 5 "stdout size"
else
	# StreamLogs: one stream of both, in the order sbxd read the two pipes
	eq "$(sort "$MNT/$box/stdout")" "$(printf 'done\nwarn')" "stdout (stderr inside it, StreamLogs)"
	eq "$(stat -c %s "$MNT/$box/stdout")" 10 "stdout size (StreamLogs)"
fi
sbx_needs_extension "the main command's stderr alone: StreamLogs' LogEntry has no stream field" \
	'eq "$(cat "$MNT/$box/stderr")" warn "stderr"'
eq "$(cat "$MNT/$box/status")" completed "status after exit"
grep -q '"sandboxId"' "$MNT/$box/info" || fail "info is not the sandbox JSON"
# reading returncode again gives the same answer at once
eq "$(timeout 2 cat "$MNT/$box/returncode")" 7 "returncode again"

# wait with a timeout that expires: the reader is ended by timeout(1)
long=$(new_box 'sleep 30')
t0=$(ms)
if timeout 1 cat "$MNT/$long/returncode"; then fail "returncode of a running sandbox returned"; fi
t1=$(ms)
[ $((t1 - t0)) -lt 5000 ] || fail "timeout did not end the wait promptly ($((t1 - t0)) ms)"
echo stop 0 >"$MNT/$long/ctl"
eq "$(timeout 20 cat "$MNT/$long/status" | tr -d '\n')" "$(cat "$MNT/$long/status")" "status readable"

# idle sandboxes
idle1=$(new_box '')
idle2=$(new_box '{}')
eq "$(cat "$MNT/$idle1/status")" running "idle (empty line) status"
eq "$(cat "$MNT/$idle2/status")" running "idle ({}) status"
eq "$(timeout 1 cat "$MNT/$idle2/stdout")" "" "idle stdout (empty; it ends with the sandbox)"
ls "$MNT" | grep -qx "$idle1" || fail "ls does not show $idle1"
echo ok
