#!/bin/bash
# :exec spools are reused (sbxd makes no file per exec once a sandbox has
# run one), and reuse never shows one exec's output in another's answer:
# not after a long output, not from a background child that keeps writing
# after its exec answered, not at the --max-output cap.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd --max-output 1Mi
e=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')

# spools held by sbxd: unnamed files in the state dir
spools() {
	local n=0 f
	for f in /proc/"$SBXD_PID"/fd/*; do
		case "$(readlink "$f")" in *"$STATE"*deleted*) n=$((n + 1)) ;; esac
	done
	echo "$n"
}

# long, short, long, short...: each answer is exactly its own output
for i in 1 2 3 4 5 6 7 8 9 10; do
	out=$(exec_sh "$e" "head -c 70000 /dev/zero | tr '\\0' L; echo; echo err$i >&2")
	expect "long exec $i" "${#out}" 70000
	r=$(exec_json "$e" "[\"echo\", \"short$i\"]")
	expect "short exec $i" "$(b64d "$(jget "$r" 'j["stdout"]')")" "short$i"
	expect "short exec $i stderr (0 is omitted)" "$(jget "$r" 'j.get("stderrBytesProduced", "0")')" 0
	expect "short exec $i bytes" "$(jget "$r" 'j["stdoutBytesProduced"]')" $((${#i} + 6))
done
n=$(spools)
[ "$n" -le 4 ] || fail "sbxd holds $n exec spools after 20 sequential execs (want <= 4)"
note "exec spools held after 20 execs: $n"

# a background child keeps the pipe after its exec answered: its spool is
# not reused, and its late output shows in no other answer
r=$(exec_sh "$e" 'echo first; (sleep 0.6; echo LATE; sleep 0.3; echo LATER) >/dev/stdout &')
expect "first" "$r" first
end=$((SECONDS + 3))
while [ $SECONDS -lt $end ]; do
	out=$(exec_sh "$e" 'echo probe; echo probe-err >&2')
	expect "probe while a child writes" "$out" probe
done

# the count past the cap stops exactly at --max-output (1 MiB), as a write
# would, and the command gets SIGXFSZ
r=$(api POST "/v1/sandboxes/$e:exec" -d '{"command":["head","-c","5000000","/dev/zero"],"maxOutputBytes":1000}')
expect "capped count" "$(jget "$r" 'j["stdoutBytesProduced"]')" 1048576
expect "capped truncated" "$(jget "$r" 'j["stdoutTruncated"]')" true
expect "capped exit" "$(jget "$r" 'j["exitCode"]')" 153
expect "after the cap" "$(exec_out "$e" '["echo", "clean"]')" clean
# just past the cap: the command may exit before init, copying its last
# bytes, reaches the cap (it keeps exit code 0) or get SIGXFSZ (153); either
# way the cut shows: truncated, and a stateReason
api POST "/v1/sandboxes/$e:exec" -d '{"command":["head","-c","1078576","/dev/zero"],"maxOutputBytes":2000000}' >"$T/cut.json"
r=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["stdoutBytesProduced"], j["stdoutTruncated"], j.get("exitCode", 0) in (0, 153))' "$T/cut.json")
expect "cut exec (bytes, truncated, exit code 0 or 153)" "$r" "1048576 True True"
p=$(jget "$(api POST "/v1/sandboxes/$e/processes" -d '{"command":["head","-c","1078576","/dev/zero"]}')" 'j["processId"]')
r=$(api GET "/v1/sandboxes/$e/processes/$p?waitSeconds=10")
expect "cut process bytes" "$(jget "$r" 'j["stdoutBytes"]')" 1048576
case "$(jget "$r" 'j["stateReason"]')" in
*max-output*) ;;
*) fail "a cut process says nothing: $r" ;;
esac

# many execs at once: every answer is its own
pids=()
for i in $(seq 1 12); do
	(out=$(exec_sh "$e" "sleep 0.2; echo mine$i"); [ "$out" = "mine$i" ] || echo "exec $i got [$out]" >>"$T/mix") &
	pids+=($!)
done
wait "${pids[@]}"
[ ! -s "$T/mix" ] || fail "concurrent execs mixed output: $(cat "$T/mix")"
n=$(spools)
[ "$n" -le 4 ] || fail "sbxd holds $n exec spools when idle (want <= 4)"
note "exec spools ok"
