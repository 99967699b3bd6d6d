#!/bin/bash
# One sick sandbox must not stall sbxd: with sandbox A's init stopped
# (SIGSTOP from the host), a process start and a signal in A wait for the
# runtime's reply timeout, but they do so without sbxd's global lock, so an
# :exec in sandbox B and a GET of A answer promptly meanwhile.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

a=$(create "$(sbx_body name=sick)")
b=$(create "$(sbx_body name=well)")
api POST /v1/sandboxes/"$a"/processes -d '{"command":["sleep","31.4159"]}' >/dev/null
pid=
for i in $(seq 1 100); do
	pid=$(pgrep -f -x 'sleep 31.4159' | head -1)
	[ -n "$pid" ] && break
	sleep 0.05
done
[ -n "$pid" ] || fail "cannot find the sandbox's sleep on the host"
init=$(awk '{print $4}' "/proc/$pid/stat")
[ "$init" -gt 1 ] || fail "no init pid for $pid"
trap 'rc=$?; set +e; kill -CONT "$init" 2>/dev/null; (exit $rc); _cleanup' EXIT
kill -STOP "$init"
api_status POST /v1/sandboxes/"$a"/processes -d '{"command":["true"]}' >"$T/start.status" &
s1=$!
api_status POST /v1/sandboxes/"$a"/processes/1:signal -d '{"signal":15}' >"$T/signal.status" &
s2=$!
sleep 0.2
worst=0
for i in 1 2 3 4 5; do
	t1=$(date +%s%N)
	x=$(api POST /v1/sandboxes/"$b":exec -d '{"command":["echo","ok"]}')
	g=$(api GET "/v1/sandboxes/$a")
	dt=$(( ($(date +%s%N) - t1) / 1000000 ))
	[ "$dt" -gt "$worst" ] && worst=$dt
	expect "exec in the well sandbox" "$(b64d "$(jget "$x" 'j["stdout"]')")" ok
	expect "GET of the sick one" "$(jget "$g" 'j["status"]["state"]')" STATE_RUNNING
done
note "an exec in another sandbox + a GET of the sick one next to a stopped init: at worst $worst ms"
[ "$worst" -lt 700 ] || fail "sbxd stalled behind the sick init: $worst ms"
wait $s1 $s2 || true
note "start in the sick box: HTTP $(cat "$T/start.status"), signal: HTTP $(cat "$T/signal.status")"
kill -CONT "$init"
api DELETE "/v1/sandboxes/$(sbx_id sick)?gracePeriodSeconds=0" >/dev/null
expect "well still fine" "$(exec_out "$b" '["echo","ok"]')" ok
note "sick_init ok"
