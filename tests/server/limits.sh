#!/bin/bash
# Limits: a fork bomb stays inside the pids limit and a memory hog inside
# the memory limit; both are reported, and sbxd and the host stay fine.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

create "$(sbx_body name=lim memory=64Mi pids=32 cpu=500m)" >/dev/null
# fork bomb: fails to fork past the limit, is killed by its timeout (a
# process of the extension: the real exec has no timeout)
p=$(api POST /v1/sandboxes/"$(sbx_id lim)"/processes -d '{"command":["sh","-c","b() { b | b & }; b; sleep 2; echo survived"],"timeoutSeconds":5}')
r=$(api GET /v1/sandboxes/"$(sbx_id lim)"/processes/"$(jget "$p" 'j["processId"]')"?waitSeconds=30)
case "$(jget "$r" 'j["state"]')" in
PROCESS_STATE_KILLED | PROCESS_STATE_EXITED) ;;
*) fail "fork bomb still running: $r" ;;
esac
n=$(ps -e --no-headers | wc -l)
[ "$n" -lt 2000 ] || fail "host has $n processes after the fork bomb"
expect "sandbox alive" "$(state_of "$(sbx_id lim)")" STATE_RUNNING
pids=$(exec_out "$(sbx_id lim)" '["sh","-c","ls /proc | grep -cE \"^[0-9]+$\""]')
note "processes left in the sandbox: $pids"
# memory hog: killed, reported as a signal (128+9)
r=$(api POST /v1/sandboxes/"$(sbx_id lim)":exec -d '{"command":["sh","-c","x=a; while :; do x=$x$x; done"]}')
expect "hog killed" "$(jget "$r" 'j["exitCode"]')" 137
# the sandbox still works after both
expect "still usable" "$(exec_out "$(sbx_id lim)" '["echo","ok"]')" ok
# limits via a main command: COMPLETED with 137
id=$(create "$(sbx_body memory=32Mi -- sh -c 'x=a; while :; do x=$x$x; done')")
sb=$(api GET "/v1/sandboxes/$id:wait?waitSeconds=30")
expect "main hog state" "$(jget "$sb" 'j["status"]["state"]')" STATE_COMPLETED
expect "main hog code" "$(jget "$sb" 'j["status"]["exitCode"]')" 137
case "$(jget "$sb" 'j["status"].get("stateReason", "")')" in
*"out of memory"*) ;;
*) fail "main hog not reported as out of memory: $sb" ;;
esac
# a background hog is reported on its process record
create "$(sbx_body name=lim2 memory=32Mi)" >/dev/null
api POST /v1/sandboxes/"$(sbx_id lim2)"/processes -d '{"command":["sh","-c","x=a; while :; do x=$x$x; done"]}' >/dev/null
pr=$(api GET '/v1/sandboxes/'"$(sbx_id lim2)"'/processes/1?waitSeconds=30')
expect "bg hog signal" "$(jget "$pr" 'j["signal"]')" 9
case "$(jget "$pr" 'j["stateReason"]')" in
*"out of memory"*) ;;
*) fail "bg hog not reported as out of memory: $pr" ;;
esac
note "limits ok"
