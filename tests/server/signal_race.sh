#!/bin/bash
# A signal sent right after a process starts is never lost, and the exit
# always reaches a waiter: 200 times start `sleep 60` and signal it at
# once (alternating TERM, INT, USR1, KILL), then each process must be over
# with 128+N within a second, seen through a long-poll.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd
id=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
python3 - "$SOCK" "$id" <<'PY' || fail "signal race"
import http.client, json, socket, sys, time
sock, box = sys.argv[1], sys.argv[2]
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sock)
def call(c, m, p, body=None):
    c.request(m, p, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, json.loads(r.read() or b"{}")
a, b = C("sbxd", timeout=30), C("sbxd", timeout=30)
sigs = [15, 2, 10, 9]
bad = []
slow = 0
for i in range(200):
    sig = sigs[i % 4]
    st, p = call(a, "POST", f"/v1/sandboxes/{box}/processes", {"command": ["sleep", "60"]})
    assert st == 200, (st, p)
    n = p["processId"]
    st, r = call(a, "POST", f"/v1/sandboxes/{box}/processes/{n}:signal", {"signal": sig})
    if st != 200:
        bad.append((n, "signal answered", st, r))
        continue
    t0 = time.monotonic()
    st, q = call(b, "GET", f"/v1/sandboxes/{box}/processes/{n}?waitSeconds=5")
    dt = time.monotonic() - t0
    if q.get("state") != "PROCESS_STATE_KILLED" or q.get("exitCode") != 128 + sig:
        bad.append((n, sig, q.get("state"), q.get("exitCode"), round(dt, 3)))
    elif dt > 1.0:
        slow += 1
        bad.append((n, sig, "slow", round(dt, 3)))
if bad:
    print("lost:", bad[:10], len(bad), file=sys.stderr)
    sys.exit(1)
print("200 start+signal ok")
PY
note "signal race ok"
