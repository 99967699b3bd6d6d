#!/bin/bash
# Egress on the machine's own network namespace (egress.sh uses a private
# one): a sandbox with {"any": true} under an sbxd in the host's namespace
# cannot reach a listener on the host's real 127.0.0.1, through its own
# loopback or through the stack's gateway (10.0.2.2, the host's alias), nor
# a host abstract unix socket, and a port it binds is not a port of the
# host. Nothing is sent beyond loopback: every probe goes to 127.0.0.1 or
# 10.0.2.2, both refused inside the sandbox's own namespace.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
command -v slirp4netns >/dev/null || skip "needs slirp4netns"
command -v nft >/dev/null || skip "needs nft (nftables)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
abstract=sbxnet-hostlo-$$
cat >"$T/listen.py" <<'EOF'
import socket, sys
port, abstract, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", port)); t.listen(16)
u = socket.socket(socket.AF_UNIX); u.bind("\0" + abstract); u.listen(16)
import selectors
sel = selectors.DefaultSelector()
sel.register(t, selectors.EVENT_READ, "tcp")
sel.register(u, selectors.EVENT_READ, "abstract")
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        with open(log, "a") as f:
            f.write(key.data + "\n")
        c.close()
EOF
: >"$T/hits"
python3 "$T/listen.py" "$port" "$abstract" "$T/hits" >"$T/listen.out" 2>&1 &
lpid=$!
trap '_rc=$?; kill $lpid 2>/dev/null; wait $lpid 2>/dev/null || true; (exit $_rc); _cleanup' EXIT
wait_for 10 grep -q ready "$T/listen.out"
start_sbxd

create "$(sbx_body name=any 'net={"egress":[{"any":true}]}')" >/dev/null
try='import socket, sys
for host in ("127.0.0.1", "10.0.2.2"):
    try:
        socket.create_connection((host, int(sys.argv[1])), timeout=3).close(); print(host, "connected")
    except OSError as e:
        print(host, type(e).__name__)
try:
    u = socket.socket(socket.AF_UNIX); u.connect("\0" + sys.argv[2]); print("abstract connected")
except OSError as e:
    print("abstract", type(e).__name__)'
body=$(python3 -c 'import json,sys; print(json.dumps({"command": ["python3", "-c", sys.argv[1], sys.argv[2], sys.argv[3]]}))' "$try" "$port" "$abstract")
got=$(b64d "$(jget "$(api POST /v1/sandboxes/"$(sbx_id any)":exec -d "$body")" 'j["stdout"]')")
expect "probes from inside" "$got" "$(printf '127.0.0.1 ConnectionRefusedError\n10.0.2.2 ConnectionRefusedError\nabstract ConnectionRefusedError')"
expect "the host's listeners saw nothing" "$(wc -l <"$T/hits")" 0
# a port bound inside does not listen on the host (when nothing else
# on the host holds that port already)
python3 -c "import socket; socket.create_connection(('127.0.0.1', $port + 1), timeout=2)" 2>/dev/null &&
	skip "port $((port + 1)) is taken on the host; rerun"
exec_sh "$(sbx_id any)" "nohup python3 -c \"
import socket, time
s = socket.socket(); s.bind(('0.0.0.0', $port + 1)); s.listen(5); time.sleep(60)\" >/dev/null 2>&1 & sleep 0.5" >/dev/null
expect "bound inside" "$(exec_sh "$(sbx_id any)" "python3 -c \"import socket; socket.create_connection(('127.0.0.1', $port + 1), timeout=2); print('up')\"")" up
python3 -c "import socket; socket.create_connection(('127.0.0.1', $port + 1), timeout=2)" 2>/dev/null &&
	fail "a port bound in the sandbox listens on the host's loopback"
note "egress hostlo ok"
