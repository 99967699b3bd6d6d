#!/bin/bash
# Lifecycle: DELETE honours the grace period (a process that traps TERM is
# KILLed only after it), maxLifetimeSeconds is enforced, a process timeout
# kills with reason "timeout", and retention purges ended sandboxes.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd --retention 4

id=$(create "$(sbx_body name=g)")
api POST /v1/sandboxes/"$(sbx_id g)"/processes -d '{"command":["sh","-c","trap \"echo got-term\" TERM; while :; do sleep 0.1; done"]}' >/dev/null
api POST /v1/sandboxes/"$(sbx_id g)"/processes -d '{"command":["sleep","60"]}' >/dev/null
sleep 0.3
t0=$(date +%s%N)
d=$(api DELETE "/v1/sandboxes/$(sbx_id g)?gracePeriodSeconds=2")
expect "terminating" "$(jget "$d" 'j["sandbox"]["status"]["state"]')" STATE_TERMINATING
sb=$(api GET "/v1/sandboxes/$id:wait?waitSeconds=20")
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
expect "terminated" "$(jget "$sb" 'j["status"]["state"]')" STATE_TERMINATED
[ $ms -ge 1800 ] && [ $ms -lt 6000 ] || fail "grace took $ms ms, want about 2000"
p1=$(api GET "/v1/sandboxes/$id/processes/1")
expect "trapper killed" "$(jget "$p1" 'j["signal"]')" 9
expect "trapper saw TERM" "$(api GET "/v1/sandboxes/$id/processes/1/stdout")" got-term
p2=$(api GET "/v1/sandboxes/$id/processes/2")
expect "sleeper terminated" "$(jget "$p2" 'j["signal"]')" 15
# without a trap, DELETE ends as soon as everything exited
id2=$(create "$(sbx_body -- sleep 60)")
t0=$(date +%s%N)
api DELETE "/v1/sandboxes/$id2?gracePeriodSeconds=30" >/dev/null
api GET "/v1/sandboxes/$id2:wait?waitSeconds=20" >/dev/null
t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] || fail "delete waited for the grace with nothing trapping TERM"
expect "quick terminate" "$(state_of "$id2")" STATE_TERMINATED

# lifetime
id3=$(create "$(sbx_body lifetime=1)")
sb=$(api GET "/v1/sandboxes/$id3:wait?waitSeconds=10")
expect "lifetime state" "$(jget "$sb" 'j["status"]["state"]')" STATE_TERMINATED
case "$(jget "$sb" 'j["status"].get("stateReason", "")')" in
*maxLifetimeSeconds*) ;;
*) fail "lifetime reason: $sb" ;;
esac

# process timeout
create "$(sbx_body name=to)" >/dev/null
api POST /v1/sandboxes/"$(sbx_id to)"/processes -d '{"command":["sleep","60"],"timeoutSeconds":1}' >/dev/null
pr=$(api GET "/v1/sandboxes/$(sbx_id to)/processes/1?waitSeconds=10")
expect "timeout state" "$(jget "$pr" 'j["state"]')" PROCESS_STATE_KILLED
expect "timeout reason" "$(jget "$pr" 'j["stateReason"]')" timeout
expect "timeout code" "$(jget "$pr" 'j["exitCode"]')" 137

# a sandbox whose init dies is FAILED with a reason, not left RUNNING
lost=$(create "$(sbx_body)")
ipid=
for p in $(pgrep -x sbx-init); do
	grep -q "$lost" "/proc/$p/cgroup" 2>/dev/null && ipid=$p
done
if [ -n "$ipid" ]; then
	kill -KILL "$ipid"
	sb=$(api GET "/v1/sandboxes/$lost:wait?waitSeconds=10")
	expect "init died state" "$(jget "$sb" 'j["status"]["state"]')" STATE_FAILED
	expect "init died reason" "$(jget "$sb" 'j["status"].get("stateReason", "")')" "sandbox init died"
else
	note "init of $lost not found by cgroup; skipping the init-death check"
fi

# retention (4 s): the first sandbox disappears
gone() { [ "$(api_status GET "/v1/sandboxes/$id")" = 404 ]; }
wait_for 15 gone
[ ! -e "$STATE/sandboxes/$id" ] || fail "purged sandbox left its state dir"
note "lifecycle ok"
