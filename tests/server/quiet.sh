#!/bin/bash
# sbxd stays quiet while sandboxes write output nobody waits for (spools
# are watched only while a reader is parked on them), and a parked reader
# is still woken promptly by new output.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd
create "$(sbx_body name=q)" >/dev/null
for i in 1 2 3 4 5 6 7 8; do
	api POST /v1/sandboxes/"$(sbx_id q)"/processes -d '{"command":["sh","-c","while :; do echo x; done"]}' >/dev/null
done
sleep 0.3
t0=$(awk '{print $14+$15}' "/proc/$SBXD_PID/stat")
sleep 3
t1=$(awk '{print $14+$15}' "/proc/$SBXD_PID/stat")
pct=$(( (t1 - t0) * 100 / $(getconf CLK_TCK) / 3 ))
note "sbxd CPU with 8 echo loops and no reader: ${pct}%"
[ "$pct" -le 10 ] || fail "sbxd burns ${pct}% of a CPU on output nobody reads"
# a parked reader wakes when output arrives
p=$(jget "$(api POST /v1/sandboxes/$(sbx_id q)/processes -d '{"command":["sh","-c","sleep 1; echo late"]}')" 'j["processId"]')
t0=$(date +%s%N)
out=$(api GET "/v1/sandboxes/$(sbx_id q)/processes/$p/stdout?waitSeconds=20")
ms=$((($(date +%s%N) - t0) / 1000000))
expect "late output" "$out" late
[ "$ms" -lt 3000 ] || fail "reader woken after ${ms} ms"
# a reader following a busy stream keeps getting bytes
off=0
for i in 1 2 3 4 5; do
	n=$(api GET "/v1/sandboxes/$(sbx_id q)/processes/1/stdout?offset=$off&waitSeconds=5" -D - -o /dev/null |
		tr -d '\r' | awk -F': ' 'tolower($1)=="x-sbx-size"{print $2}')
	[ "$n" -gt "$off" ] || fail "stream did not grow: $n <= $off"
	off=$n
done
# an :exec stores no more than its maxOutputBytes: init counts the rest as a
# hole, so its spool (an unnamed file in the state dir) reaches the full size
# while holding about one block. Poll (a loaded or ASan build writes later)
# for up to 10 s.
api POST /v1/sandboxes/"$(sbx_id q)":exec -d '{"command":["sh","-c","head -c 30000000 /dev/zero; sleep 5"],"maxOutputBytes":1000}' >"$T/exec.json" &
epid=$!
end=$((SECONDS + 10))
while :; do
	seen=0 full=0 big=0
	for f in /proc/"$SBXD_PID"/fd/*; do
		case "$(readlink "$f")" in *"$STATE"*deleted*) ;; *) continue ;; esac
		seen=$((seen + 1))
		[ "$(stat -L -c %s "$f")" -eq 30000000 ] && full=1
		held=$(( $(stat -L -c '%b * %B' "$f") ))
		[ "$held" -le 65536 ] || big=$held
	done
	[ "$full" -eq 1 ] && break
	[ $SECONDS -lt $end ] || break
	sleep 0.2
done
wait "$epid"
[ "$seen" -ge 2 ] || fail "exec spools not found among sbxd's fds ($seen)"
[ "$full" -eq 1 ] || fail "the exec's stdout spool never reached 30000000 bytes"
r=$(cat "$T/exec.json")
expect "exec bytes" "$(jget "$r" 'j["stdoutBytesProduced"]')" 30000000
expect "exec truncated" "$(jget "$r" 'j["stdoutTruncated"]')" true
expect "exec answer size" "$(jget "$r" 'len(j["stdout"])')" 1336
[ "$big" -eq 0 ] || fail "an exec spool holds ${big} bytes past its maxOutputBytes"
note "quiet ok"
