#!/bin/bash
# sbxd stays quiet while sandboxes write output nobody waits for (spools
# are watched only while a reader is parked on them), and a parked reader
# is still woken promptly by new output.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd
create '{"spec":{"name":"q"}}' >/dev/null
for i in 1 2 3 4 5 6 7 8; do
	api POST /v1/sandboxes/q/processes -d '{"command":["sh","-c","while :; do echo x; done"]}' >/dev/null
done
sleep 0.3
t0=$(awk '{print $14+$15}' "/proc/$SBXD_PID/stat")
sleep 3
t1=$(awk '{print $14+$15}' "/proc/$SBXD_PID/stat")
pct=$(( (t1 - t0) * 100 / $(getconf CLK_TCK) / 3 ))
note "sbxd CPU with 8 echo loops and no reader: ${pct}%"
[ "$pct" -le 10 ] || fail "sbxd burns ${pct}% of a CPU on output nobody reads"
# a parked reader wakes when output arrives
p=$(jget "$(api POST /v1/sandboxes/q/processes -d '{"command":["sh","-c","sleep 1; echo late"]}')" 'j["processId"]')
t0=$(date +%s%N)
out=$(api GET "/v1/sandboxes/q/processes/$p/stdout?waitSeconds=20")
ms=$((($(date +%s%N) - t0) / 1000000))
expect "late output" "$out" late
[ "$ms" -lt 3000 ] || fail "reader woken after ${ms} ms"
# a reader following a busy stream keeps getting bytes
off=0
for i in 1 2 3 4 5; do
	n=$(api GET "/v1/sandboxes/q/processes/1/stdout?offset=$off&waitSeconds=5" -D - -o /dev/null |
		tr -d '\r' | awk -F': ' 'tolower($1)=="x-sbx-size"{print $2}')
	[ "$n" -gt "$off" ] || fail "stream did not grow: $n <= $off"
	off=$n
done
note "quiet ok"
