#!/usr/bin/env bash
# The service hangs (SIGSTOP) instead of dying: calls fail with ETIMEDOUT
# within the deadline, a waiting reader gets an error within one long-poll
# plus the deadline, and after SIGCONT the same mount works again.
# Without the extension the reader waits on a StreamExec of a quiet
# command, which a hung service looks just like: the mount's keepalive=
# pings tell them apart (every 2 s here; sbxd allows one a second).
. "$TESTS_DIR/fs/common.sh"
up -o timeout=3,keepalive=2

mkdir "$MNT/h"
id=$(start_proc h 'sleep 600')
cat "$MNT/h/exec/$id/returncode" >"$T/rc" 2>"$T/rc.err" &
reader=$!
sleep 0.5
kill -STOP "$SBXD_PID"
t0=$(ms)
if timeout 30 ls "$MNT/h/exec/$id" >/dev/null 2>&1 && timeout 30 cat "$MNT/h/status" >/dev/null 2>"$T/st.err"; then
	: # both may still answer from the cache
fi
if timeout 30 mkdir "$MNT/h2" 2>"$T/mk.err"; then fail "mkdir worked with the service stopped"; fi
t1=$(ms)
note "mkdir with the service stopped: $(cat "$T/mk.err") after $((t1 - t0)) ms"
[ $((t1 - t0)) -lt 12000 ] || fail "calls took $((t1 - t0)) ms with a 3 s deadline"
grep -qi "timed out" "$T/mk.err" || fail "mkdir error: $(cat "$T/mk.err")"
# the waiting reader: one 25 s long-poll plus the 3 s deadline, plus slack
for k in $(seq 1 450); do kill -0 $reader 2>/dev/null || break; sleep 0.1; done
t2=$(ms)
if kill -0 $reader 2>/dev/null; then fail "reader still waiting $(((t2 - t0) / 1000)) s into the hang"; fi
if wait $reader; then fail "reader ended without an error: $(cat "$T/rc")"; fi
note "reader ended after $((t2 - t0)) ms: $(cat "$T/rc.err")"
kill -CONT "$SBXD_PID"
id=$(start_proc h 'echo again')
eq "$(timeout 10 cat "$MNT/h/exec/$id/stdout")" again "works after SIGCONT"
echo ok
