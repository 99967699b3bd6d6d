#!/usr/bin/env bash
# The service dies while a reader waits: the reader gets an error within
# the deadline and the mount stays; the service comes back: the same mount
# works again, no remount.
. "$TESTS_DIR/fs/common.sh"
ALLOW_LOG_ERRORS='^sbxd: (error|warning):'   # sbxd may complain about the sandboxes it lost
up -o timeout=3

mkdir "$MNT/a"
id=$(start_proc a 'echo before; sleep 600')
eq "$(head -n 1 "$MNT/a/exec/$id/stdout")" before "output before the crash"
cat "$MNT/a/exec/$id/stdout" >"$T/mid" 2>"$T/mid.err" &
reader=$!
sleep 0.5
kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
t0=$(ms)
for k in $(seq 1 300); do kill -0 $reader 2>/dev/null || break; sleep 0.1; done
t1=$(ms)
if kill -0 $reader 2>/dev/null; then fail "reader still waiting 30 s after the service died"; fi
if wait $reader; then fail "reader ended without an error"; fi
note "reader ended $((t1 - t0)) ms after the crash: $(cat "$T/mid.err")"
[ $((t1 - t0)) -lt 15000 ] || fail "error took $((t1 - t0)) ms"
# while it is down: errors, not hangs
t0=$(ms)
if timeout 20 mkdir "$MNT/b" 2>"$T/down.err"; then fail "mkdir worked with the service down"; fi
t1=$(ms)
[ $((t1 - t0)) -lt 15000 ] || fail "mkdir with the service down took $((t1 - t0)) ms"
grep -q . "$MNT/error" || fail "root error file empty while the service is down"
mountpoint -q "$MNT" || fail "mount gone"

rm -f "$SOCK"
start_sbxd
mkdir "$MNT/b"
id=$(start_proc b 'echo back')
eq "$(timeout 10 cat "$MNT/b/exec/$id/stdout")" back "works after the restart"
eq "$(cat "$MNT/b/exec/$id/returncode")" 0 "rc after the restart"
echo ok
