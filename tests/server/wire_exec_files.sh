#!/bin/bash
# The real Exec, ReadFile and WriteFile exactly as the schema says (strict
# in, canonical out, the error table), and the "files" extension's ranged
# calls :readFileRange and :writeFileAt (issue 10).
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

# reason JSON -> ErrorInfo reason; code JSON -> google.rpc.Code;
# bad_field JSON -> the BadRequest field violation's field.
code_of() { jget "$1" 'j["code"]'; }
bad_field() { jget "$1" '[d for d in j["details"] if "BadRequest" in d["@type"]][0]["fieldViolations"][0]["field"]'; }
domain_of() { jget "$1" '[d for d in j["details"] if "ErrorInfo" in d["@type"]][0]["domain"]'; }
b64() { printf '%s' "$1" | base64 -w0; }
# st METHOD PATH [curl args] -> "HTTP body" (status first)
st() {
	local m=$1 p=$2; shift 2
	curl -sS --max-time 70 --unix-socket "$SOCK" -X "$m" "http://sbxd$p" -w '\n%{http_code}' "$@"
}
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

id=$(create '{"spec":{"containers":[{"name":"box","image":"default"}]}}')
wait_state "$id" STATE_RUNNING 20

# --- Exec: the schema's body, canonical answer
r=$(api POST "/v1/sandboxes/$id:exec" -d "{\"sandboxId\":\"$id\",\"command\":[\"sh\",\"-c\",\"printf hi; printf oops >&2\"],\"env\":{\"K\":\"V\"}}")
expect "exec stdout" "$(b64d "$(jget "$r" 'j["stdout"]')")" hi
expect "exec stderr" "$(b64d "$(jget "$r" 'j["stderr"]')")" oops
expect "exec keys (exit 0 and false omitted)" "$(jget "$r" 'sorted(j)')" \
	"['stderr', 'stderrBytesProduced', 'stdout', 'stdoutBytesProduced']"
expect "int64 as strings" "$(jget "$r" '(j["stdoutBytesProduced"], j["stderrBytesProduced"])')" "('2', '4')"
r=$(api POST "/v1/sandboxes/$id:exec" -d '{"command":["sh","-c","echo $K; exit 3"],"env":{"K":"V"},"container":"box"}')
expect "exec env, exit code, container by name" "$(jget "$r" '(j["exitCode"], j["stdout"])')" "(3, '$(b64 $'V\n')')"
r=$(api POST "/v1/sandboxes/$id:exec" -d '{"command":["true"]}')
expect "empty answer is {}" "$r" "{}"
# maxOutputBytes caps each stream; the counts say what was produced
r=$(api POST "/v1/sandboxes/$id:exec" -d '{"command":["sh","-c","printf 0123456789"],"maxOutputBytes":4}')
expect "capped" "$(jget "$r" '(j["stdout"], j["stdoutTruncated"], j["stdoutBytesProduced"])')" "('$(b64 0123)', True, '10')"
# strict in
out=$(st POST "/v1/sandboxes/$id:exec" -d '{"command":["true"],"workingDir":"/"}')
expect "unknown field is 400" "$(status_of "$out")" 400
expect "unknown field named" "$(bad_field "$(body_of "$out")")" workingDir
expect "domain" "$(domain_of "$(body_of "$out")")" cwsandbox.com
out=$(st POST "/v1/sandboxes/$id:exec" -d '{"command":["true"],"timeoutSeconds":5}')
expect "no timeout in the schema" "$(bad_field "$(body_of "$out")")" timeoutSeconds
out=$(st POST "/v1/sandboxes/$id:exec" -d '{"command":["true"],"container":"other"}')
expect "container mismatch 400" "$(status_of "$out")" 400
expect "container mismatch named" "$(bad_field "$(body_of "$out")")" container
out=$(st POST "/v1/sandboxes/$id:exec" -d '{"sandboxId":"sbx-someoneelse","command":["true"]}')
expect "body sandboxId differs: 400" "$(status_of "$out")" 400
expect "body sandboxId named" "$(bad_field "$(body_of "$out")")" sandboxId
out=$(st POST "/v1/sandboxes/$id:exec" -d '{"command":["true"],"maxOutputBytes":"16"}')
expect "maxOutputBytes is int32 (a number; a string is accepted by proto3 JSON)" "$(status_of "$out")" 200
out=$(st POST "/v1/sandboxes/$id:exec" -d '{"command":["true"],"maxOutputBytes":4294967296}')
expect "maxOutputBytes out of int32" "$(status_of "$out")" 400
out=$(st POST "/v1/sandboxes/$id:exec" -d '{"command":[]}')
expect "empty command" "$(bad_field "$(body_of "$out")")" command
out=$(st POST "/v1/sandboxes/sbx-nosuch:exec" -d '{"command":["true"]}')
expect "no sandbox 404" "$(status_of "$out")" 404
expect "no sandbox reason" "$(err_reason "$(body_of "$out")")" CWSANDBOX_SANDBOX_NOT_FOUND

# --- WriteFile / ReadFile: whole files
expect "write" "$(api POST "/v1/sandboxes/$id:writeFile" -d "{\"sandboxId\":\"$id\",\"path\":\"/tmp/a\",\"content\":\"$(b64 'hello world')\"}")" "{}"
expect "write truncates" "$(api POST "/v1/sandboxes/$id:writeFile" -d "{\"path\":\"/tmp/a\",\"content\":\"$(b64 hey)\"}")" "{}"
r=$(api GET "/v1/sandboxes/$id:readFile?path=/tmp/a")
expect "read answers content only" "$r" "{\"content\":\"$(b64 hey)\"}"
expect "empty write makes an empty file" "$(api POST "/v1/sandboxes/$id:writeFile" -d '{"path":"/tmp/empty"}')" "{}"
expect "empty read is {}" "$(api GET "/v1/sandboxes/$id:readFile?path=/tmp/empty")" "{}"
expect "read with container" "$(api GET "/v1/sandboxes/$id:readFile?path=/tmp/a&container=box")" "{\"content\":\"$(b64 hey)\"}"
out=$(st GET "/v1/sandboxes/$id:readFile?path=/tmp/a&container=nope")
expect "read container mismatch" "$(bad_field "$(body_of "$out")")" container
out=$(st GET "/v1/sandboxes/$id:readFile?path=/tmp/a&offset=1")
expect "old ranged read form is gone" "$(bad_field "$(body_of "$out")")" offset
out=$(st POST "/v1/sandboxes/$id:writeFile" -d '{"path":"/tmp/a","content":"","offset":"0"}')
expect "old ranged write form is gone" "$(bad_field "$(body_of "$out")")" offset
out=$(st GET "/v1/sandboxes/$id:readFile?path=/tmp")
expect "is a directory 400" "$(status_of "$out")" 400
expect "is a directory reason" "$(err_reason "$(body_of "$out")")" CWSANDBOX_FILE_IS_DIRECTORY
expect "is a directory code" "$(code_of "$(body_of "$out")")" 9
out=$(st GET "/v1/sandboxes/$id:readFile?path=/no/such")
expect "not found 404" "$(status_of "$out")" 404
expect "not found reason" "$(err_reason "$(body_of "$out")")" CWSANDBOX_FILE_NOT_FOUND
# a FIFO is no regular file: refused, nothing blocks
api POST "/v1/sandboxes/$id:exec" -d '{"command":["mkfifo","/tmp/fifo"]}' >/dev/null
out=$(st GET "/v1/sandboxes/$id:readFile?path=/tmp/fifo")
expect "fifo refused 400" "$(status_of "$out")" 400
expect "fifo refused reason" "$(err_reason "$(body_of "$out")")" CWSANDBOX_INVALID_REQUEST
# over 32 MiB: CWSANDBOX_FILE_TOO_LARGE, nothing read
api POST "/v1/sandboxes/$id:exec" -d '{"command":["sh","-c","truncate -s 33554433 /tmp/big"]}' >/dev/null
out=$(st GET "/v1/sandboxes/$id:readFile?path=/tmp/big")
expect "read over 32 MiB 400" "$(status_of "$out")" 400
expect "read over 32 MiB reason" "$(err_reason "$(body_of "$out")")" CWSANDBOX_FILE_TOO_LARGE
api POST "/v1/sandboxes/$id:exec" -d '{"command":["sh","-c","truncate -s 33554432 /tmp/big"]}' >/dev/null
api GET "/v1/sandboxes/$id:readFile?path=/tmp/big" >"$T/big.json"
expect "read of exactly 32 MiB" "$(python3 -c 'import base64,json,sys; print(len(base64.b64decode(json.load(open(sys.argv[1]))["content"])))' "$T/big.json")" 33554432
# a body over the write cap: 400/3 CWSANDBOX_FILE_TOO_LARGE
python3 -c 'import sys; sys.stdout.write("{\"path\":\"/tmp/x\",\"content\":\"" + "A" * (17 << 20) + "\"}")' >"$T/huge.json"
out=$(st POST "/v1/sandboxes/$id:writeFile" --data-binary @"$T/huge.json")
expect "write over cap 400" "$(status_of "$out")" 400
expect "write over cap reason" "$(err_reason "$(body_of "$out")")" CWSANDBOX_FILE_TOO_LARGE
expect "write over cap code" "$(code_of "$(body_of "$out")")" 3
out=$(st POST "/v1/sandboxes/$id:writeFile" -d '{"path":"/tmp/x","content":"","mode":420}')
expect "writeFile has no mode" "$(bad_field "$(body_of "$out")")" mode

# --- :readFileRange / :writeFileAt (extension "files")
api POST "/v1/sandboxes/$id:writeFile" -d "{\"path\":\"/tmp/r\",\"content\":\"$(b64 'hello world')\"}" >/dev/null
r=$(api GET "/v1/sandboxes/$id:readFileRange?path=/tmp/r&offset=6&length=5")
expect "range" "$r" "{\"content\":\"$(b64 world)\",\"size\":\"11\",\"eof\":true}"
r=$(api GET "/v1/sandboxes/$id:readFileRange?path=/tmp/r&offset=0&length=5")
expect "range not eof" "$r" "{\"content\":\"$(b64 hello)\",\"size\":\"11\"}"
r=$(api GET "/v1/sandboxes/$id:readFileRange?path=/tmp/r&offset=20")
expect "range past the end" "$r" "{\"size\":\"11\",\"eof\":true}"
hdr=$(curl -sS --unix-socket "$SOCK" -D - -o "$T/raw" "http://sbxd/v1/sandboxes/$id:readFileRange?path=/tmp/r&offset=6&raw=true")
expect "raw range body" "$(cat "$T/raw")" world
expect "raw range headers" "$(tr -d '\r' <<<"$hdr" | grep -E '^X-Sbx-(Size|Eof|Offset)' | sort | tr '\n' ' ')" "X-Sbx-Eof: 1 X-Sbx-Offset: 6 X-Sbx-Size: 11 "
expect "write at offset" "$(api POST "/v1/sandboxes/$id:writeFileAt" -d "{\"path\":\"/tmp/r\",\"content\":\"$(b64 W)\",\"offset\":\"6\"}")" "{}"
expect "offset write keeps the rest" "$(exec_out "$id" '["cat","/tmp/r"]')" "hello World"
api POST "/v1/sandboxes/$id:writeFileAt" -d "{\"path\":\"/tmp/r\",\"content\":\"$(b64 '!')\",\"append\":true}" >/dev/null
expect "append" "$(exec_out "$id" '["cat","/tmp/r"]')" "hello World!"
api POST "/v1/sandboxes/$id:writeFileAt" -d "{\"path\":\"/tmp/r\",\"content\":\"$(b64 H)\",\"offset\":\"0\",\"truncate\":true}" >/dev/null
expect "offset + truncate" "$(exec_out "$id" '["cat","/tmp/r"]')" "H"
api POST "/v1/sandboxes/$id:writeFileAt" -d "{\"path\":\"/tmp/r\",\"content\":\"$(b64 new)\"}" >/dev/null
expect "no offset replaces" "$(exec_out "$id" '["cat","/tmp/r"]')" "new"
api POST "/v1/sandboxes/$id:writeFileAt" -d "{\"path\":\"/tmp/m\",\"content\":\"$(b64 x)\",\"mode\":384}" >/dev/null
expect "mode" "$(exec_out "$id" '["stat","-c","%a","/tmp/m"]')" 600
expect "raw write" "$(curl -sS --unix-socket "$SOCK" -X POST -H 'Content-Type: application/octet-stream' --data-binary 'RAW' "http://sbxd/v1/sandboxes/$id:writeFileAt?path=/tmp/r&offset=1")" "{}"
expect "raw write landed" "$(exec_out "$id" '["cat","/tmp/r"]')" "nRAW"
out=$(st POST "/v1/sandboxes/$id:writeFileAt" -d '{"path":"/tmp/r","bogus":1}')
expect "writeFileAt strict" "$(bad_field "$(body_of "$out")")" bogus
out=$(st POST "/v1/sandboxes/$id:writeFileAt" -d '{"path":"/tmp/r","mode":4096}')
expect "writeFileAt mode range" "$(bad_field "$(body_of "$out")")" mode
out=$(st GET "/v1/sandboxes/$id:readFileRange?path=/tmp/r&offset=-1")
expect "negative offset" "$(bad_field "$(body_of "$out")")" offset
out=$(st GET "/v1/sandboxes/$id:readFileRange?path=/tmp")
expect "range of a directory" "$(err_reason "$(body_of "$out")")" CWSANDBOX_FILE_IS_DIRECTORY
# without the extension these are unmatched paths
note "done"
