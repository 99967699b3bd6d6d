#!/usr/bin/env bash
# stdin back-pressure: 5 MB into a process that reads slowly goes through
# a blocking fd (libsbx resends what the service refused with 429); a
# blocking writer to a process that never reads gets ETIMEDOUT after the
# mount's timeout; an O_NONBLOCK writer gets EAGAIN instead of waiting.
. "$TESTS_DIR/fs/common.sh"
up -o timeout=6

mkdir "$MNT/p"
id=$(start_proc p '{"command": ["sh", "-c", "sleep 1; wc -c"], "stdin": true}')
head -c 5000000 /dev/zero >"$T/five"
timeout 60 dd if="$T/five" of="$MNT/p/exec/$id/stdin" bs=1M status=none || fail "5 MB into stdin failed"
echo eof >"$MNT/p/exec/$id/ctl"
eq "$(timeout 20 cat "$MNT/p/exec/$id/stdout" | tr -d ' ')" 5000000 "bytes the process read"

# a process that never reads: a blocking writer times out
id=$(start_proc p '{"command": ["sleep", "600"], "stdin": true}')
t0=$(ms)
out=$(timeout 60 dd if="$T/five" of="$MNT/p/exec/$id/stdin" bs=1M status=none 2>&1) &&
	fail "5 MB into a process that never reads succeeded"
t1=$(ms)
printf '%s\n' "$out" | grep -q "Connection timed out" || fail "blocking writer: $out"
[ $((t1 - t0)) -ge 4000 ] || fail "blocking writer gave up after $((t1 - t0)) ms, before the 6 s timeout"
grep -q "not reading (timed out)" "$MNT/p/error" || fail "no message in error: $(cat "$MNT/p/error")"

# a non-blocking writer is told EAGAIN at once (the 4 MiB are pending)
out=$(timeout 30 python3 - "$MNT/p/exec/$id/stdin" <<'PY' 2>&1
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
chunk = b"x" * (1 << 20)
for i in range(64):
    try:
        os.write(fd, chunk)
    except OSError as e:
        print("errno", errno.errorcode[e.errno], "after", i)
        sys.exit(0)
print("never refused")
PY
)
printf '%s\n' "$out" | grep -q "errno EAGAIN" || fail "non-blocking writer: $out"
grep -q "not reading (try again)" "$MNT/p/error" || fail "no message in error: $(cat "$MNT/p/error")"
echo "kill 9" >"$MNT/p/exec/$id/ctl"
echo ok
