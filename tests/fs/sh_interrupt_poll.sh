#!/usr/bin/env bash
# Ctrl-C ends a waiting read promptly (FUSE interrupt -> EINTR); O_NONBLOCK
# readers get EAGAIN; poll/select on stdout and returncode wake when output
# or the exit arrives.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/i"
id=$(start_proc i 'sleep 600')
d="$MNT/i/exec/$id"
for f in returncode stdout; do
	cat "$d/$f" >/dev/null 2>&1 &
	p=$!
	sleep 0.5
	kill -0 $p 2>/dev/null || fail "cat $f did not wait"
	t0=$(ms)
	# (a background job of a script ignores SIGINT, so TERM stands in for
	# Ctrl-C: both make the kernel send FUSE_INTERRUPT)
	kill -TERM $p
	for k in $(seq 1 40); do kill -0 $p 2>/dev/null || break; sleep 0.05; done
	t1=$(ms)
	if kill -0 $p 2>/dev/null; then fail "cat $f still waiting after the signal"; fi
	wait $p 2>/dev/null || true
	[ $((t1 - t0)) -lt 1500 ] || fail "the signal took $((t1 - t0)) ms"
done

out=$(dd if="$d/stdout" iflag=nonblock bs=64 count=1 2>&1 || true)
printf '%s\n' "$out" | grep -q "Resource temporarily unavailable" || fail "O_NONBLOCK stdout: $out"
out=$(dd if="$d/returncode" iflag=nonblock bs=64 count=1 2>&1 || true)
printf '%s\n' "$out" | grep -q "Resource temporarily unavailable" || fail "O_NONBLOCK returncode: $out"

command -v python3 >/dev/null || skip "no python3 for the poll test"
id=$(start_proc i 'sleep 2; echo late; sleep 1; exit 5')
d="$MNT/i/exec/$id"
python3 - "$d" <<'PY' || fail "poll test"
import os, select, sys, time
d = sys.argv[1]
out = os.open(d + "/stdout", os.O_RDONLY | os.O_NONBLOCK)
rc = os.open(d + "/returncode", os.O_RDONLY | os.O_NONBLOCK)
p = select.poll()
p.register(out, select.POLLIN)
# nothing yet: not readable
assert p.poll(0) == [], "stdout readable before any output"
t = time.time()
ev = p.poll(10000)
assert ev and ev[0][0] == out, "stdout poll: %r" % ev
data = os.read(out, 100)
assert data == b"late\n", data
dt1 = time.time() - t
p2 = select.poll()
p2.register(rc, select.POLLIN)
ev = p2.poll(10000)
assert ev, "returncode poll timed out"
assert os.read(rc, 10) == b"5\n"
dt2 = time.time() - t
assert 0.1 < dt1 < 6 and dt1 < dt2 < 10, (dt1, dt2)
# at the end of a finished stream: readable (EOF)
assert select.select([out], [], [], 5)[0] == [out]
assert os.read(out, 100) == b""
print("poll ok %.2f %.2f" % (dt1, dt2))
PY

# a real SIGINT, with its default action restored in the child
python3 - "$MNT/i/exec/1/returncode" <<'PY' || fail "SIGINT test"
import signal, subprocess, sys, time
p = subprocess.Popen(["cat", sys.argv[1]], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
time.sleep(0.5)
assert p.poll() is None, "cat did not wait"
t = time.time()
p.send_signal(signal.SIGINT)
p.wait(timeout=5)
assert p.returncode == -signal.SIGINT, p.returncode
assert time.time() - t < 1.5
print("SIGINT ok %.3f" % (time.time() - t))
PY
echo ok
