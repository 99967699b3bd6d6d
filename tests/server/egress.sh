#!/bin/bash
# Egress (docs/security.md, "The network"): a sandbox always has its own
# network namespace; spec.network's rules decide what it reaches through
# the user-mode stack, and the host itself (its loopback, its own
# addresses, its abstract unix sockets, its ports) is never reachable.
# Runs in a private network (fakenet.sh); listeners on the host side log
# every connection, and the test reads those logs.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
. "$TESTS_DIR/server/fakenet.sh"

listen "$NET_H" tcp 127.0.0.1:8100 hostlo
listen "$NET_H" tcp "$HOST_IP:8100" hostip
listen "$NET_H" abstract "$ABSTRACT" hostabs
listen "$NET_O" tcp "$OUT_IP:8100" out
listen "$NET_O" tcp "$OUT_IP:8101" out2
start_sbxd

# --- egress any: the outside, and nothing of the host
create "$(sbx_body name=any 'net={"egress":[{"any":true}]}')" >/dev/null
expect "any: outside host" "$(probe any "$OUT_IP" 8100)" hello-out
expect "any: outside host's listener saw it" "$(hits out)" 1
got=$(probe any 127.0.0.1 8100)
[ "$got" != hello-hostlo ] || fail "any reached the host's loopback listener"
got=$(probe any 10.0.2.2 8100)     # the stack's gateway stands for the host
[ "$got" != hello-hostlo ] && [ "$got" != hello-hostip ] || fail "any reached the host through the gateway: $got"
got=$(probe any "$HOST_IP" 8100)   # the host's own address
[ "$got" != hello-hostip ] || fail "any reached the host's own address"
exec_sh "$(sbx_id any)" "python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('\\0$ABSTRACT')\" 2>/dev/null; true" >/dev/null
expect "host loopback listener untouched" "$(hits hostlo)" 0
expect "host address listener untouched" "$(hits hostip)" 0
expect "host abstract socket untouched" "$(hits hostabs)" 0
# the host's loopback and own address fail fast (refused), not by timeout
expect "host address refused" "$(probe any "$HOST_IP" 8100)" ECONNREFUSED
# its own namespace: loopback and the stack's interface only
expect "interfaces" "$(exec_sh "$(sbx_id any)" 'ls /sys/class/net | sort | tr "\n" " "')" "eth0 lo "
# a port bound inside is not a port of the host
exec_sh "$(sbx_id any)" 'nohup python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"0.0.0.0\", 8200)); s.listen(5); time.sleep(60)" >/dev/null 2>&1 & sleep 0.5' >/dev/null
expect "bound inside" "$(exec_sh "$(sbx_id any)" 'grep -ci ":2008 00000000:0000 0A" /proc/net/tcp')" 1
in_h true || fail "cannot enter the fake host's namespace"
in_h ss -ltn | grep -q ':8200 ' && fail "a port bound in the sandbox listens on the host"
in_h python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", 8200), timeout=2)' 2>/dev/null &&
	fail "the host's loopback reaches a port bound in the sandbox"
in_o python3 -c "import socket,sys; socket.create_connection(('$HOST_IP', 8200), timeout=2)" 2>/dev/null &&
	fail "the outside reaches a port bound in the sandbox through the host"
# rules inside cannot be changed: no CAP_NET_ADMIN
got=$(exec_sh "$(sbx_id any)" 'nft flush ruleset 2>&1 >/dev/null; ip route del default 2>&1; ip addr add 10.9.9.9/32 dev eth0 2>&1' || true)
expect "any: still refused after trying to change the rules" "$(probe any "$HOST_IP" 8100)" ECONNREFUSED
expect "any: still reaches the outside" "$(probe any "$OUT_IP" 8100)" hello-out

# --- no network field: no egress (sbxd's default), nothing reachable
create "$(sbx_body name=none)" >/dev/null
expect "none: interfaces" "$(exec_sh "$(sbx_id none)" 'ls /sys/class/net')" lo
got=$(probe none "$OUT_IP" 8100)
expect "none: outside unreachable" "$got" ENETUNREACH
expect "none: effectiveEgress" "$(jget "$(api GET "/v1/sandboxes/$(sbx_id none)")" 'j["status"].get("effectiveEgress", [])')" "[]"
got=$(probe none 127.0.0.1 8100)
[ "$got" != hello-hostlo ] || fail "no-network sandbox reached the host's loopback"

# --- a cidr rule with a port
create "$(sbx_body name=cidr net='{"egress":[{"cidr":{"cidr":"10.231.0.0/24"},"ports":[{"port":8100}]}]}')" >/dev/null
expect "cidr: allowed address and port" "$(probe cidr "$OUT_IP" 8100)" hello-out
expect "cidr: another port" "$(probe cidr "$OUT_IP" 8101)" ECONNREFUSED
# the rule covers the host's veth address too: the host is still refused
expect "cidr: the host inside the cidr" "$(probe cidr "$HOST_IP" 8100)" ECONNREFUSED
# --- except carves the outside host out
create "$(sbx_body name=except net="{\"egress\":[{\"cidr\":{\"cidr\":\"10.231.0.0/24\",\"except\":[\"$OUT_IP/32\"]}}]}")" >/dev/null
expect "except: carved out" "$(probe except "$OUT_IP" 8100)" ECONNREFUSED
# --- a cidr that does not hold the outside host
create "$(sbx_body name=other 'net={"egress":[{"cidr":{"cidr":"10.232.0.0/16"}}]}')" >/dev/null
expect "other cidr: blocked" "$(probe other "$OUT_IP" 8100)" ECONNREFUSED
# --- denyEgress
create "$(sbx_body name=deny 'net={"denyEgress":true}')" >/dev/null
expect "denyEgress: blocked" "$(probe deny "$OUT_IP" 8100)" ENETUNREACH
expect "out2 saw nothing" "$(hits out2)" 0

# --- DNS: names resolve through the stack to the host's resolver; a
# dnsName rule allows what the name resolves to at create time
expect "dns: resolv.conf" "$(exec_sh "$(sbx_id any)" 'grep ^nameserver /etc/resolv.conf')" "nameserver 10.0.2.3"
expect "dns: resolves" "$(exec_sh "$(sbx_id any)" 'getent ahostsv4 outside.test | head -1 | cut -d" " -f1')" "$OUT_IP"
grep -q '^outside.test 1$' "$T/dns.log" || fail "the fake resolver saw no question"
create "$(sbx_body name=dns 'net={"egress":[{"dnsName":"outside.test","ports":[{"port":8100}]}]}')" >/dev/null
expect "dnsName: allowed" "$(probe dns outside.test 8100)" hello-out
expect "dnsName: other port" "$(probe dns outside.test 8101)" ECONNREFUSED
out=$(api POST /v1/sandboxes -d "$(sbx_body 'net={"egress":[{"dnsName":"nowhere.test"}]}')")
expect "unresolvable dnsName: FAILED" "$(jget "$out" 'j["status"]["state"]')" STATE_FAILED
case "$(jget "$out" 'j["status"].get("stateReason", "")')" in
*'network.egress[0].dnsName "nowhere.test"'*) ;;
*) fail "unresolvable dnsName: reason $(jget "$out" 'j["status"].get("stateReason", "")')" ;;
esac

# --- the API: strict NetworkOptions, 501 for what sbxd cannot honour
out=$(api POST /v1/sandboxes -d "$(sbx_body 'net={"egress":true}')")
expect "flat egress: 400" "$(jget "$out" 'j["code"]')" 3
case "$(jget "$out" 'j["message"]')" in *network.egress*) ;; *) fail "flat egress message: $out" ;; esac
out=$(api POST /v1/sandboxes -d "$(sbx_body 'net={"egres":[]}')")
case "$(jget "$out" 'j["message"]')" in *'no field named "egres"'*) ;; *) fail "unknown field: $out" ;; esac
expect "ingress: 501" "$(api_status POST /v1/sandboxes -d "$(sbx_body 'net={"ingress":[{"any":true}]}')")" 501
out=$(api POST /v1/sandboxes -d "$(sbx_body 'net={"egress":[{"tenant":"TENANT_SCOPE_SAME_ORG"}]}')")
expect "tenant: UNIMPLEMENTED" "$(jget "$out" 'j["code"]')" 12
case "$(jget "$out" 'j["message"]')" in *'network.egress[0].tenant'*) ;; *) fail "tenant message: $out" ;; esac
expect "GET echoes the rules" "$(jget "$(api GET "/v1/sandboxes/$(sbx_id cidr)")" 'json.dumps(j["spec"]["network"], separators=(",", ":"))')" \
	'{"egress":[{"cidr":{"cidr":"10.231.0.0/24"},"ports":[{"port":8100}]}]}'

# --- the stack dies with its sandbox: after delete, and after kill -9 of sbxd
slirps() { pgrep -x slirp4netns -P "$SBXD_PID" 2>/dev/null | wc -l; }
n=$(slirps)
[ "$n" -ge 5 ] || fail "expected a slirp4netns per egress sandbox, found $n"
api DELETE "/v1/sandboxes/$(sbx_id any)?gracePeriodSeconds=0" >/dev/null
wait_state "$(sbx_id any)" STATE_TERMINATED 20
slirps_are() { [ "$(slirps)" -eq "$1" ]; }
wait_for 10 slirps_are $((n - 1))
mapfile -t left < <(pgrep -x slirp4netns -P "$SBXD_PID")
kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
gone() { local p; for p in "${left[@]}"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
wait_for 10 gone
# a new sbxd on the same state dir cleans what the dead one left
start_sbxd --default-egress any
expect "sandboxes after the restart" "$(jget "$(api GET /v1/sandboxes)" 'len(j.get("sandboxes", []))')" 0
# --default-egress any: no network field means [{"any": true}]; denyEgress still denies
create "$(sbx_body name=dflt)" >/dev/null
expect "default any: effectiveEgress" "$(jget "$(api GET "/v1/sandboxes/$(sbx_id dflt)")" 'json.dumps(j["status"]["effectiveEgress"])')" '[{"any": true}]'
expect "default any: outside" "$(probe dflt "$OUT_IP" 8100)" hello-out
expect "default any: host still refused" "$(probe dflt "$HOST_IP" 8100)" ECONNREFUSED
create "$(sbx_body name=deny2 'net={"denyEgress":true}')" >/dev/null
expect "default any: denyEgress" "$(probe deny2 "$OUT_IP" 8100)" ENETUNREACH
expect "host listeners untouched at the end" "$(hits hostlo) $(hits hostip) $(hits hostabs)" "0 0 0"
# the stack never touched the host's mounts (its sandbox once unmounted
# shared ones: /run/netns/NAME is one)
in_h true || fail "the fake host's /run/netns mount is gone"
in_o true || fail "the fake outside's /run/netns mount is gone"
note "egress ok"
