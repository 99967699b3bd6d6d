#!/bin/bash
# Process starts with a requestId (sbxd's extension): a repeated start with
# the same id answers the first start's process and runs nothing, also
# once the process has ended; another id (or none) is a new process.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

id=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
body='{"command":["sh","-c","echo x >>/tmp/n; wc -l </tmp/n"],"requestId":"rid-1"}'
p1=$(jget "$(api POST "/v1/sandboxes/$id/processes" -d "$body")" 'j["processId"]')
p2=$(jget "$(api POST "/v1/sandboxes/$id/processes" -d "$body")" 'j["processId"]')
expect "same requestId, same process" "$p2" "$p1"
api GET "/v1/sandboxes/$id/processes/$p1?waitSeconds=10" >/dev/null
p3=$(jget "$(api POST "/v1/sandboxes/$id/processes" -d "$body")" 'j["processId"]')
expect "same requestId after the exit" "$p3" "$p1"
expect "runs of the command" "$(api GET "/v1/sandboxes/$id/processes/$p1/stdout")" 1
other='{"command":["true"],"requestId":"rid-2"}'
p4=$(jget "$(api POST "/v1/sandboxes/$id/processes" -d "$other")" 'j["processId"]')
[ "$p4" != "$p1" ] || fail "another requestId gave the same process"
p5=$(jget "$(api POST "/v1/sandboxes/$id/processes" -d '{"command":["true"]}')" 'j["processId"]')
[ "$p5" != "$p4" ] || fail "a start without requestId gave an old process"
# a retry after the sandbox stopped still answers the process
api DELETE "/v1/sandboxes/$id?gracePeriodSeconds=0" >/dev/null
wait_state "$id" STATE_TERMINATED 20
p6=$(jget "$(api POST "/v1/sandboxes/$id/processes" -d "$body")" 'j["processId"]')
expect "same requestId once the sandbox stopped" "$p6" "$p1"
out=$(api POST "/v1/sandboxes/$id/processes" -d '{"command":["true"],"requestId":7}')
expect "a requestId that is not a string" "$(err_reason "$out")" CWSANDBOX_INVALID_REQUEST
echo ok
