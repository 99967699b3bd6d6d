#!/usr/bin/env bash
# `sleep infinity` as the main command, then execs beside it; returncode
# does not answer while it runs (O_NONBLOCK: EAGAIN); ctl stop ends it.
. "$TESTS_DIR/fs/common.sh"
up

box=$(new_box 'sleep infinity')
id=$(start_proc "$box" 'echo beside; hostname >/dev/null; exit 0')
eq "$(cat "$MNT/$box/exec/$id/returncode")" 0 "exec returncode"
eq "$(cat "$MNT/$box/exec/$id/stdout")" beside "exec stdout"
eq "$(cat "$MNT/$box/status")" running "main still running"
out=$(dd if="$MNT/$box/returncode" iflag=nonblock bs=64 count=1 2>&1 || true)
printf '%s\n' "$out" | grep -q "Resource temporarily unavailable" || fail "O_NONBLOCK returncode: $out"
echo "stop 1" >"$MNT/$box/ctl"
rc=$(timeout 20 cat "$MNT/$box/returncode") || fail "returncode after stop"
[ -n "$rc" ] || fail "empty returncode after stop"
st=$(cat "$MNT/$box/status")
eq "$st" terminated "status after stop"
write_fails "$MNT/$box/exec/new" 'echo late' "."
echo ok
