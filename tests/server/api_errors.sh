#!/bin/bash
# Every error path of the API answers the documented status, gRPC code and
# ErrorInfo reason: bad JSON, oversized bodies, unknown sandbox / process /
# route, bad signal, stdin closed, process exited, not running, caps, auth.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd --max-sandboxes 3

# check METHOD PATH HTTP CODE REASON [curl args]
check() {
	local m=$1 p=$2 http=$3 code=$4 reason=$5
	shift 5
	local out st
	out=$(api "$m" "$p" -w '\n%{http_code}' -H 'X-Conformance-Expect: bad' "$@")
	st=${out##*$'\n'}
	out=${out%$'\n'*}
	expect "$m $p status" "$st" "$http"
	expect "$m $p error" "$(jget "$out" '"%s %s %s" % (j["code"], ([d for d in j.get("details", []) if "ErrorInfo" in d["@type"]] or [{"reason": ""}])[0]["reason"], bool(j["message"]))')" "$code $reason True"
}

check POST /v1/sandboxes 400 3 CWSANDBOX_INVALID_REQUEST -d '{"spec":'
check POST /v1/sandboxes 400 3 CWSANDBOX_INVALID_REQUEST -d '[1]'
check POST /v1/sandboxes 400 3 CWSANDBOX_INVALID_REQUEST -d "$(sbx_body memory=lots)"
check POST /v1/sandboxes 400 3 CWSANDBOX_INVALID_REQUEST -d "$(python3 -c 'print("["*40 + "]"*40)')"
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' >"$T/big"
check POST /v1/sandboxes 400 3 CWSANDBOX_INVALID_REQUEST --data-binary @"$T/big"
check GET /v1/sandboxes/nope 404 5 CWSANDBOX_SANDBOX_NOT_FOUND
check DELETE /v1/sandboxes/nope 404 5 CWSANDBOX_SANDBOX_NOT_FOUND
expect "allowMissing" "$(api_status DELETE '/v1/sandboxes/nope?allowMissing=true')" 200
check POST /v1/sandboxes/nope:exec 404 5 CWSANDBOX_SANDBOX_NOT_FOUND -d '{"command":["true"]}'
check GET /v1/nothing 404 5 ""
check GET /v1/sandboxes/x:frob 404 5 ""
check PUT /v1/sandboxes 404 5 ""
check GET '/v1/sandboxes?pageSize=-1' 400 3 CWSANDBOX_INVALID_REQUEST
check GET '/v1/sandboxes?state=STATE_BOGUS' 400 3 CWSANDBOX_INVALID_REQUEST
check GET '/v1/sandboxes?pageToken=abc' 400 3 CWSANDBOX_INVALID_REQUEST
check POST /v1/sandboxes 400 3 CWSANDBOX_INVALID_REQUEST -d "$(sbx_body image=no-such-image)"

id=$(create "$(sbx_body name=box)")
check GET "/v1/sandboxes/$id/processes/7" 404 5 CWSANDBOX_PROCESS_NOT_FOUND
check GET "/v1/sandboxes/$id/processes/7/stdout" 404 5 CWSANDBOX_PROCESS_NOT_FOUND
check POST "/v1/sandboxes/$id/processes" 400 3 CWSANDBOX_INVALID_REQUEST -d '{"command":[]}'
check POST "/v1/sandboxes/$id/processes" 400 3 CWSANDBOX_INVALID_REQUEST -d '{"command":"ls"}'
check POST "/v1/sandboxes/$id:exec" 400 3 CWSANDBOX_INVALID_REQUEST -d '{"command":["true"],"stdin":"aGk="}'
check DELETE "/v1/sandboxes/$id?gracePeriodSeconds=301" 400 3 CWSANDBOX_INVALID_REQUEST
check GET "/v1/sandboxes/$id:wait?waitSeconds=x" 400 3 CWSANDBOX_INVALID_REQUEST
# argv and env caps
python3 -c 'import json; print(json.dumps({"command": ["x"] * 4097}))' >"$T/argv"
check POST "/v1/sandboxes/$id/processes" 400 3 CWSANDBOX_INVALID_REQUEST --data-binary @"$T/argv"
python3 -c 'import json; print(json.dumps({"command": ["x"], "env": {"K%d" % i: "v" for i in range(1025)}}))' >"$T/env"
check POST "/v1/sandboxes/$id/processes" 400 3 CWSANDBOX_INVALID_REQUEST --data-binary @"$T/env"
head -c $((2 << 20)) /dev/zero >"$T/stdin"

# a process without stdin, one with stdin closed, one exited
api POST "/v1/sandboxes/$id/processes" -d '{"command":["sleep","300"]}' >/dev/null
check POST "/v1/sandboxes/$id/processes/1/stdin" 400 9 CWSANDBOX_STDIN_CLOSED --data-binary x
check POST "/v1/sandboxes/$id/processes/1/stdin" 400 3 CWSANDBOX_INVALID_REQUEST --data-binary @"$T/stdin"
for s in '{"signal":0}' '{"signal":65}' '{"signal":"TERM"}' '{}' 'junk'; do
	check POST "/v1/sandboxes/$id/processes/1:signal" 400 3 CWSANDBOX_INVALID_REQUEST -d "$s"
done
api POST "/v1/sandboxes/$id/processes" -d '{"command":["cat"],"stdin":true}' >/dev/null
api POST "/v1/sandboxes/$id/processes/2/stdin:close" >/dev/null
expect "close is idempotent" "$(api POST "/v1/sandboxes/$id/processes/2/stdin:close")" "{}"
api GET "/v1/sandboxes/$id/processes/2?waitSeconds=10" >/dev/null
check POST "/v1/sandboxes/$id/processes/2/stdin" 400 9 CWSANDBOX_PROCESS_EXITED --data-binary x
check POST "/v1/sandboxes/$id/processes/2:signal" 400 9 CWSANDBOX_PROCESS_EXITED -d '{"signal":9}'
api POST "/v1/sandboxes/$id/processes" -d '{"command":["sleep","30"],"stdin":true}' >/dev/null
api POST "/v1/sandboxes/$id/processes/3/stdin:close" >/dev/null
check POST "/v1/sandboxes/$id/processes/3/stdin" 400 9 CWSANDBOX_STDIN_CLOSED --data-binary x
# stdin that the process does not read: queued up to 4 MiB, then 429
api POST "/v1/sandboxes/$id/processes" -d '{"command":["sleep","30"],"stdin":true}' >/dev/null
head -c $((1 << 20)) /dev/zero >"$T/mib"
for i in 1 2 3 4; do
	expect "queued stdin $i" "$(jget "$(api POST "/v1/sandboxes/$id/processes/4/stdin" --data-binary @"$T/mib")" 'j["written"]')" 1048576
done
check POST "/v1/sandboxes/$id/processes/4/stdin" 429 8 CWSANDBOX_STDIN_FULL --data-binary @"$T/mib"
# the real exec has no timeout (a process of the extension does)
check POST "/v1/sandboxes/$id:exec" 400 3 CWSANDBOX_INVALID_REQUEST -d '{"command":["sleep","10"],"timeoutSeconds":1}'
# max sandboxes (3): box + 2 more, the 4th is refused with RetryInfo
create "$(sbx_body)" >/dev/null
create "$(sbx_body)" >/dev/null
out=$(api POST /v1/sandboxes -d "$(sbx_body)" -w '\n%{http_code}')
expect "cap status" "${out##*$'\n'}" 429
expect "cap retry" "$(jget "${out%$'\n'*}" '[d for d in j["details"] if "RetryInfo" in d["@type"]][0]["retryDelay"]')" 5s
# not running
api DELETE "/v1/sandboxes/$id?gracePeriodSeconds=0" >/dev/null
wait_state "$id" STATE_TERMINATED 10
check POST "/v1/sandboxes/$id/processes" 400 9 CWSANDBOX_INVALID_REQUEST -d '{"command":["true"]}'
check POST "/v1/sandboxes/$id:exec" 400 9 CWSANDBOX_INVALID_REQUEST -d '{"command":["true"]}'
# A stopped sandbox's files stay, read-only (until a purge).
expect "readFile of a stopped sandbox" "$(api_status GET "/v1/sandboxes/$id:readFile?path=/etc/hostname")" 200
check POST "/v1/sandboxes/$id:writeFile" 403 7 CWSANDBOX_FILE_PERMISSION_DENIED -d '{"path":"/tmp/x","content":""}'
pr=$(api GET "/v1/sandboxes/$id/processes/1")
expect "killed at delete" "$(jget "$pr" 'j["state"]')" PROCESS_STATE_KILLED

# socket is owner-only
expect "socket mode" "$(stat -c %a "$SOCK")" 600
# TCP needs a token, and checks it
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo secret-token >"$T/token"
"$SBXD" -f --socket "$T/s2.sock" --state-dir "$T/state2" --listen "127.0.0.1:$port" --token-file "$T/token" >>"$T/sbxd.log" 2>&1 &
pid2=$!
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$port/"
expect "no token" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/sandboxes")" 401
expect "bad token" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "http://127.0.0.1:$port/v1/sandboxes")" 401
expect "good token" "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer secret-token' "http://127.0.0.1:$port/v1/sandboxes")" 200
expect "wandb key" "$(curl -s -o /dev/null -w '%{http_code}' -H 'x-wandb-api-key: secret-token' "http://127.0.0.1:$port/v1/sandboxes")" 200
kill -TERM $pid2
wait $pid2 || fail "second sbxd exit status"
if "$SBXD" -f --socket "$T/s3.sock" --state-dir "$T/state3" --listen "127.0.0.1:1" 2>/dev/null; then
	fail "--listen without --token-file accepted"
fi
note "api_errors ok"
