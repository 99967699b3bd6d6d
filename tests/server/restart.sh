#!/bin/bash
# Restart: records and finished output survive an sbxd restart (clean stop
# and crash); a sandbox that was running is reported FAILED with a reason.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

done_id=$(create "$(sbx_body name=done -- sh -c 'echo finished; exit 2')")
api GET "/v1/sandboxes/$done_id:wait?waitSeconds=10" >/dev/null
run_id=$(create "$(sbx_body name=run -- sh -c 'echo started; sleep 100')")
api POST /v1/sandboxes/"$run_id"/processes -d '{"command":["sh","-c","echo bg; sleep 100"]}' >/dev/null
bg_out() { [ "$(api GET /v1/sandboxes/$run_id/processes/1/stdout)" = bg ]; }
wait_for 10 bg_out

# long-polls pending at shutdown get a 503 answer, not a dropped connection
api GET "/v1/sandboxes/$run_id:wait?waitSeconds=30" -o /dev/null -w '%{http_code}' >"$T/poll.code" &
poll=$!
api POST /v1/sandboxes/"$run_id":exec -d '{"command":["sleep","30"]}' -o /dev/null -w '%{http_code}' >"$T/exec.code" &
execp=$!
sleep 0.5
stop_sbxd
wait $poll $execp || true
expect "poll at shutdown" "$(cat "$T/poll.code")" 503
expect "exec at shutdown" "$(cat "$T/exec.code")" 503
start_sbxd
sb=$(api GET "/v1/sandboxes/$done_id")
expect "done state kept" "$(jget "$sb" 'j["status"]["state"]')" STATE_COMPLETED
expect "done code kept" "$(jget "$sb" 'j["status"]["exitCode"]')" 2
expect "done output kept" "$(api GET "/v1/sandboxes/$done_id/stdout")" finished
sb=$(api GET "/v1/sandboxes/$run_id")
expect "running one failed" "$(jget "$sb" 'j["status"]["state"]')" STATE_FAILED
expect "reason" "$(jget "$sb" 'j["status"].get("stateReason", "")')" "sbxd stopped"
expect "its output kept" "$(api GET "/v1/sandboxes/$run_id/stdout")" started
pr=$(api GET "/v1/sandboxes/$run_id/processes/1")
expect "process ended" "$(jget "$pr" 'j["state"]')" PROCESS_STATE_KILLED
expect "process output kept" "$(api GET "/v1/sandboxes/$run_id/processes/1/stdout")" bg
hdr=$(api GET "/v1/sandboxes/$run_id/processes/1/stdout" -D - -o /dev/null | tr -d '\r')
echo "$hdr" | grep -qx 'X-Sbx-Eof: 1' || fail "ended stream not at eof"
# names are free again, ids keep counting in order
create "$(sbx_body name=run)" >/dev/null
l=$(api GET '/v1/sandboxes?showTerminated=true')
expect "list order" "$(jget "$l" '[name(s) for s in j.get("sandboxes", [])]')" "['done', 'run', 'run']"

# crash: SIGKILL sbxd while a sandbox runs
crash_id=$(create "$(sbx_body -- sleep 100)")
kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
start_sbxd
sb=$(api GET "/v1/sandboxes/$crash_id")
expect "crashed one failed" "$(jget "$sb" 'j["status"]["state"]')" STATE_FAILED
expect "crash reason" "$(jget "$sb" 'j["status"].get("stateReason", "")')" "sbxd restarted"
# the runtime cleaned up: no sleep 100 left from our sandboxes
sleep 0.5
if pgrep -f '^sleep 100$' >/dev/null; then
	for p in $(pgrep -f '^sleep 100$'); do
		grep -q "$T" /proc/$p/cgroup 2>/dev/null && fail "leftover process $p"
	done
fi
create "$(sbx_body name=after)" >/dev/null
expect "still serves" "$(jget "$(api POST /v1/sandboxes/"$(sbx_id after)":exec -d '{"command":["echo","hi"]}')" 'j.get("exitCode", 0)')" 0
note "restart ok"
