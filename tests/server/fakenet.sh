# A private network for the egress tests (sourced after lib.sh and
# common.sh): two network namespaces of the test's own, joined by a veth
# pair in 10.231.0.0/24, and nothing of the machine's own network touched.
#
#   NET_H  "the host": sbxd runs here (nsenter --net, and a private mount
#          namespace whose /etc/resolv.conf names the fake resolver), with
#          listeners on its loopback, on its own veth address 10.231.0.1
#          and on an abstract unix socket: what no sandbox may reach.
#   NET_O  "the outside": 10.231.0.2, listeners and a DNS server that
#          answers outside.test: what egress rules may reach.
#
# Listeners log every connection to a file on the host: the tests read
# those, not the sandbox's word. Everything is removed in the EXIT trap.

NET_H=sbxnet-h-$$
NET_O=sbxnet-o-$$
HOST_IP=10.231.0.1
OUT_IP=10.231.0.2
ABSTRACT=sbxnet-abstract-$$
_net_pids=()

command -v ip >/dev/null || skip "needs ip (iproute2)"
command -v slirp4netns >/dev/null || skip "needs slirp4netns"
command -v nft >/dev/null || skip "needs nft (nftables)"

net_cleanup() {
	local p
	for p in "${_net_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${_net_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$NET_H" 2>/dev/null || true
	ip netns del "$NET_O" 2>/dev/null || true
}
# lib.sh's _cleanup ends the sandboxes with the real sbxd binary: the
# wrapper below enters NET_H, which net_cleanup has removed by then.
# set +e first: under set -e the `(exit $_rc)` of a failed test would end
# the trap before _cleanup.
trap '_rc=$?; set +e; net_cleanup; SBXD=${SBXD_REAL:-$SBXD}; (exit $_rc); _cleanup' EXIT

in_h() { nsenter --net="/run/netns/$NET_H" "$@"; }
in_o() { nsenter --net="/run/netns/$NET_O" "$@"; }

ip netns add "$NET_H" || skip "cannot create network namespaces"
ip netns add "$NET_O"
ip -n "$NET_H" link set lo up
ip -n "$NET_O" link set lo up
ip link add vh netns "$NET_H" type veth peer name vo netns "$NET_O"
ip -n "$NET_H" addr add "$HOST_IP/24" dev vh
ip -n "$NET_O" addr add "$OUT_IP/24" dev vo
ip -n "$NET_H" link set vh up
ip -n "$NET_O" link set vo up
ip -n "$NET_H" route add default via "$OUT_IP"

# listen NS KIND ADDR NAME: a listener in namespace NS that greets with
# "hello-NAME" and appends "NAME" to $T/hits for every connection.
# KIND tcp (ADDR = ip:port) or abstract (ADDR = the socket's name).
cat >"$T/listen.py" <<'EOF'
import socket, sys, threading
kind, addr, name, log = sys.argv[1:5]
if kind == "tcp":
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
else:
    s = socket.socket(socket.AF_UNIX)
    s.bind("\0" + addr)
s.listen(64)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    with open(log, "a") as f:
        f.write(name + "\n")
    try:
        c.sendall(("hello-" + name + "\n").encode())
    except OSError:
        pass
    c.close()
EOF
listen() {
	local ns=$1 kind=$2 addr=$3 name=$4
	nsenter --net="/run/netns/$ns" python3 "$T/listen.py" "$kind" "$addr" "$name" "$T/hits" >"$T/listen-$name.out" 2>&1 &
	_net_pids+=($!)
	wait_for 10 grep -q ready "$T/listen-$name.out"
}
: >"$T/hits"
# hits NAME: how many connections the listener NAME has seen
hits() { grep -cx "$1" "$T/hits" || true; }

# A DNS server for outside.test (A: the outside host), NXDOMAIN for the
# rest, logging each question to $T/dns.log.
cat >"$T/dns.py" <<'EOF'
import socket, struct, sys
addr, answer, log = sys.argv[1:4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 12:
        continue
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += 1 + q[i]
    qname = ".".join(labels).lower()
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0] if i + 3 <= len(q) else 0
    question = q[12:i + 5]
    with open(log, "a") as f:
        f.write("%s %d\n" % (qname, qtype))
    known = qname == "outside.test"
    an = b""
    if known and qtype == 1:
        an = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(answer)
    flags = 0x8180 if known else 0x8183
    s.sendto(q[:2] + struct.pack(">HHHHH", flags, 1, 1 if an else 0, 0, 0) + question + an, peer)
EOF
# nsenter itself in the background (not the in_o function's subshell), so
# that _net_pids holds the server's own pid and net_cleanup ends it.
nsenter --net="/run/netns/$NET_O" python3 "$T/dns.py" "$OUT_IP" "$OUT_IP" "$T/dns.log" >"$T/dns.out" 2>&1 &
_net_pids+=($!)
wait_for 10 grep -q ready "$T/dns.out"
echo "nameserver $OUT_IP" >"$T/resolv.conf"

# sbxd in "the host": its own netns, and a mount namespace where the
# host's resolv.conf names the fake resolver (slirp4netns forwards to it).
SBXD_REAL=$SBXD
cat >"$T/sbxd-in-host" <<EOF
#!/bin/sh
exec nsenter --net=/run/netns/$NET_H unshare -m --propagation private sh -c 'mount --bind "\$0" /etc/resolv.conf && exec "\$@"' "$T/resolv.conf" "$SBXD_REAL" "\$@"
EOF
chmod +x "$T/sbxd-in-host"
SBXD=$T/sbxd-in-host

# probe BOX ADDR PORT: from inside, connects over TCP and prints the
# greeting, or the error's errno name (ECONNREFUSED, EHOSTUNREACH ...).
PROBE='import errno, socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    print(s.makefile().readline().strip() or "connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e)))'
# probe NAME|ID ADDR PORT (a name is looked up by its sbxfs-name tag)
probe() {
	local body id=$1
	case $id in sbx-*) ;; *) id=$(sbx_id "$1") ;; esac
	body=$(python3 -c 'import json,sys; print(json.dumps({"command": ["python3", "-c", sys.argv[1], sys.argv[2], sys.argv[3]]}))' "$PROBE" "$2" "$3")
	b64d "$(jget "$(api POST "/v1/sandboxes/$id:exec" -d "$body")" 'j["stdout"]')"
}
