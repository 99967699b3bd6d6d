#!/bin/bash
# The seed's flows over the API: a main command to completion with its exit
# code and output; an idle sandbox with several execs; a background process
# whose output is streamed by offset with long-polls; a non-zero exit with
# stderr; stdin and signals; names, tags, paging and requestId.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

# 1. main command to completion
id=$(create "$(sbx_body -- /bin/sh -c 'echo out; echo err >&2; exit 3')")
sb=$(api GET "/v1/sandboxes/$id:wait?waitSeconds=20")
expect "main state" "$(jget "$sb" 'j["status"]["state"]')" STATE_COMPLETED
expect "main exit code" "$(jget "$sb" 'j["status"]["exitCode"]')" 3
expect "main stdout" "$(api GET "/v1/sandboxes/$id/stdout")" out
expect "main stderr" "$(api GET "/v1/sandboxes/$id/stderr")" err
hdrs=$(api GET "/v1/sandboxes/$id/stdout?offset=2" -D - -o /dev/null | tr -d '\r')
echo "$hdrs" | grep -qx 'X-Sbx-Offset: 2' || fail "offset header: $hdrs"
echo "$hdrs" | grep -qx 'X-Sbx-Size: 4' || fail "size header: $hdrs"
echo "$hdrs" | grep -qx 'X-Sbx-Eof: 1' || fail "eof header: $hdrs"
expect "read from offset" "$(api GET "/v1/sandboxes/$id/stdout?offset=1&length=2")" ut
# exit code by signal: 128+N
id2=$(create "$(sbx_body -- /bin/sh -c 'kill -9 $$')")
sb=$(api GET "/v1/sandboxes/$id2:wait?waitSeconds=20")
expect "signal exit code" "$(jget "$sb" 'j["status"]["exitCode"]')" 137

# a main command that cannot start fails the sandbox, with the reason
id3=$(create "$(sbx_body -- /no/such/program)")
sb=$(api GET "/v1/sandboxes/$id3:wait?waitSeconds=20")
expect "unstartable main" "$(jget "$sb" 'j["status"]["state"]')" STATE_FAILED
expect "unstartable code" "$(jget "$sb" 'j["status"]["exitCode"]')" 127
case "$(jget "$sb" 'j["status"].get("stateReason", "")')" in
*"/no/such/program"*) ;;
*) fail "unstartable reason: $sb" ;;
esac

# 2. idle sandbox + several execs in sequence
idle=$(create "$(sbx_body name=idle-box tag=t1 tag=t2)")
expect "idle state" "$(state_of "$idle")" STATE_RUNNING
for i in 1 2 3; do
	expect "exec $i" "$(exec_out "$idle" "[\"sh\",\"-c\",\"echo run-$i\"]")" "run-$i"
done
r=$(exec_json "$idle" '["sh","-c","echo oops >&2; exit 4"]')
expect "exec exit" "$(jget "$r" 'j["exitCode"]')" 4
expect "exec stderr" "$(b64d "$(jget "$r" 'j["stderr"]')")" oops
expect "exec stderrBytesProduced" "$(jget "$r" 'j["stderrBytesProduced"]')" 5
# truncation: 10 bytes max of 100
r=$(api POST "/v1/sandboxes/$idle:exec" -d '{"command":["sh","-c","head -c 100 /dev/zero"],"maxOutputBytes":"10"}')
expect "truncated" "$(jget "$r" 'j["stdoutTruncated"]')" true
expect "all bytes counted" "$(jget "$r" 'j["stdoutBytesProduced"]')" 100
expect "returned bytes" "$(jget "$r" 'len(__import__("base64").b64decode(j["stdout"]))')" 10
# env for exec (the real ExecRequest has no stdin, cwd or timeout: those
# are the extension's processes)
r=$(api POST "/v1/sandboxes/$idle:exec" -d '{"command":["sh","-c","echo $K"],"env":{"K":"V"}}')
expect "exec env" "$(b64d "$(jget "$r" 'j["stdout"]')")" V
expect "exec stdin refused" "$(api_status POST "/v1/sandboxes/$idle:exec" -d '{"command":["cat"],"stdin":"aGVsbG8K"}')" 400
# a command that cannot run: 127 with the message on stderr
r=$(exec_json "$idle" '["no-such-command"]')
expect "exec not found" "$(jget "$r" 'j["exitCode"]')" 127
case "$(b64d "$(jget "$r" 'j["stderr"]')")" in
*no-such-command*) ;;
*) fail "exec not found stderr: $r" ;;
esac
# unary execs do not show in the process list
expect "no listed execs" "$(jget "$(api GET "/v1/sandboxes/$idle/processes")" 'len(j.get("processes", []))')" 0

# 3. background process, streamed output, exit code
p=$(api POST "/v1/sandboxes/$idle/processes" -d '{"command":["sh","-c","echo a; sleep 0.5; echo b; sleep 0.5; echo c; exit 5"]}')
expect "process id" "$(jget "$p" 'j["processId"]')" 1
expect "process state" "$(jget "$p" 'j["state"]')" PROCESS_STATE_RUNNING
off=0 all=
start=$SECONDS
while :; do
	body=$(api GET "/v1/sandboxes/$idle/processes/1/stdout?offset=$off&waitSeconds=10" -D "$T/h")
	all+=$body$'\n'
	eof=$(tr -d '\r' <"$T/h" | sed -n 's/^X-Sbx-Eof: //p')
	size=$(tr -d '\r' <"$T/h" | sed -n 's/^X-Sbx-Size: //p')
	[ "$eof" = 1 ] && break
	n=$(tr -d '\r' <"$T/h" | sed -n 's/^Content-Length: //p')
	off=$((off + n))
	[ $((SECONDS - start)) -lt 15 ] || fail "stream did not end"
done
expect "streamed output" "$(printf '%s' "$all" | tr -s '\n')" "$(printf 'a\nb\nc')"
expect "final size" "$size" 6
pr=$(api GET "/v1/sandboxes/$idle/processes/1?waitSeconds=10")
expect "bg exit state" "$(jget "$pr" 'j["state"]')" PROCESS_STATE_EXITED
expect "bg exit code" "$(jget "$pr" 'j["exitCode"]')" 5
expect "bg stdoutBytes" "$(jget "$pr" 'j["stdoutBytes"]')" 6
# a long-poll at the end of a running stream waits, then answers empty
p=$(api POST "/v1/sandboxes/$idle/processes" -d '{"command":["sleep","30"]}')
t0=$(date +%s%N)
body=$(api GET "/v1/sandboxes/$idle/processes/2/stdout?waitSeconds=1" -D "$T/h")
t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -ge 900 ] || fail "long-poll returned early"
tr -d '\r' <"$T/h" | grep -qx 'X-Sbx-Eof: 0' || fail "eof while running"
expect "empty poll" "$body" ""

# a waiting reader is woken by new output at once, not at its deadline
api POST "/v1/sandboxes/$idle/processes" -d '{"command":["sh","-c","sleep 1; echo late"]}' >/dev/null
t0=$(date +%s%N)
body=$(api GET "/v1/sandboxes/$idle/processes/3/stdout?waitSeconds=20")
t1=$(date +%s%N)
expect "woken read" "$body" late
[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] || fail "output wake-up took $(( (t1 - t0) / 1000000 )) ms"

# 4. stdin, eof and signals on a background process
p=$(api POST "/v1/sandboxes/$idle/processes" -d '{"command":["sh","-c","cat; echo done"],"stdin":true}')
pid=$(jget "$p" 'j["processId"]')
w=$(api POST "/v1/sandboxes/$idle/processes/$pid/stdin" --data-binary 'line1
')
expect "written" "$(jget "$w" 'j["written"]')" 6
api POST "/v1/sandboxes/$idle/processes/$pid/stdin:close" >/dev/null
pr=$(api GET "/v1/sandboxes/$idle/processes/$pid?waitSeconds=10")
expect "stdin process exit" "$(jget "$pr" 'j["state"]')" PROCESS_STATE_EXITED
expect "stdin echoed" "$(api GET "/v1/sandboxes/$idle/processes/$pid/stdout")" "$(printf 'line1\ndone')"
s=$(api POST "/v1/sandboxes/$idle/processes/2:signal" -d '{"signal": 15}')
expect "signal answer" "$s" "{}"
pr=$(api GET "/v1/sandboxes/$idle/processes/2?waitSeconds=10")
expect "killed state" "$(jget "$pr" 'j["state"]')" PROCESS_STATE_KILLED
expect "killed signal" "$(jget "$pr" 'j["signal"]')" 15
expect "killed code" "$(jget "$pr" 'j["exitCode"]')" 143
p=$(api POST "/v1/sandboxes/$idle/processes" -d '{"command":["/etc/passwd"]}')
pr=$(api GET "/v1/sandboxes/$idle/processes/$(jget "$p" 'j["processId"]')?waitSeconds=10")
expect "not executable" "$(jget "$pr" '(j["state"], j["exitCode"])')" "('PROCESS_STATE_FAILED', 126)"
expect "process list" "$(jget "$(api GET "/v1/sandboxes/$idle/processes")" '[p["processId"] for p in j["processes"]]')" "['1', '2', '3', '4', '5']"

# 5. names, tags, paging, requestId, delete
c=$(api_status POST /v1/sandboxes -d "$(sbx_body name=idle-box)")
expect "duplicate name" "$c" 409
for i in 1 2 3; do create "$(sbx_body tag=page)" >/dev/null; done
l=$(api GET '/v1/sandboxes?tags=page&pageSize=2')
expect "page 1" "$(jget "$l" 'len(j.get("sandboxes", []))')" 2
tok=$(jget "$l" 'j.get("nextPageToken", "")')
[ -n "$tok" ] || fail "no nextPageToken"
l=$(api GET "/v1/sandboxes?tags=page&pageSize=2&pageToken=$tok")
expect "page 2" "$(jget "$l" 'len(j.get("sandboxes", []))')" 1
expect "page 2 end" "$(jget "$l" 'j.get("nextPageToken", "")')" ""
l=$(api GET '/v1/sandboxes?tags=t1&tags=t2')
expect "tag filter" "$(jget "$l" '[s["sandboxId"] for s in j.get("sandboxes", [])]')" "['$idle']"
l=$(api GET '/v1/sandboxes?tags=t1&tags=page')
expect "tags are ANDed" "$(jget "$l" 'len(j.get("sandboxes", []))')" 0
l=$(api GET '/v1/sandboxes?tags=t1,t2')
expect "a comma is part of a tag" "$(jget "$l" 'len(j.get("sandboxes", []))')" 0
expect "terminated hidden" "$(jget "$(api GET /v1/sandboxes)" "'$id' in [s['sandboxId'] for s in j['sandboxes']]")" false
expect "terminated shown" "$(jget "$(api GET '/v1/sandboxes?showTerminated=true')" "'$id' in [s['sandboxId'] for s in j['sandboxes']]")" true
expect "state filter" "$(jget "$(api GET '/v1/sandboxes?state=STATE_COMPLETED')" 'len(j.get("sandboxes", []))')" 2
a=$(create "$(sbx_body)" "?requestId=req-1")
b=$(create "$(sbx_body)" "?requestId=req-1")
expect "requestId idempotent" "$a" "$b"
d=$(api DELETE "/v1/sandboxes/$(sbx_id idle-box)?gracePeriodSeconds=1")
expect "delete answer" "$(jget "$d" '(j["sandbox"]["sandboxId"], "fileSystemSnapshotIds" in j)')" "('$idle', False)"
wait_state "$idle" STATE_TERMINATED 10
expect "deleted reason" "$(jget "$(api GET "/v1/sandboxes/$idle")" 'j["status"].get("stateReason", "")')" deleted
# the name is free again
again=$(create "$(sbx_body name=idle-box)")
expect "the name now means the new one" "$(sbx_id idle-box)" "$again"
# delete without a grace is immediate, and allowMissing answers {}
d=$(api DELETE "/v1/sandboxes/$again")
expect "immediate delete" "$(jget "$d" 'j["sandbox"]["status"]["state"]')" STATE_TERMINATED
expect "allowMissing" "$(api DELETE "/v1/sandboxes/sbx-nope?allowMissing=true")" "{}"
note "api_basic ok"
