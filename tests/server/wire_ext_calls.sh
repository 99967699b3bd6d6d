#!/bin/bash
# The extension's processes, output, files and posix calls on their
# sbxd.ext.v1 messages (proto/sbxd/ext/v1/extension.proto): canonical
# proto3 JSON out (zero values omitted, int64 as strings, enums by name),
# strict in (an unknown field or query parameter is 400 naming it), the
# extension's own error reasons, and none of it on the real surface when
# sbxd runs with --no-extension (issue 10).
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

bad_field() { jget "$1" '[d for d in j["details"] if "BadRequest" in d["@type"]][0]["fieldViolations"][0]["field"]'; }
b64() { printf '%s' "$1" | base64 -w0; }
st() {
	local m=$1 p=$2; shift 2
	curl -sS --max-time 70 --unix-socket "$SOCK" -X "$m" "http://sbxd$p" -w '\n%{http_code}' "$@"
}
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

ext=$(api GET /v1/extensions)
for n in processes output files posix; do
	expect "announced $n" "$(jget "$ext" "'$n' in j['extensions']")" true
done

id=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
wait_state "$id" STATE_RUNNING 20
S=/v1/sandboxes/$id

# --- processes: start, get (wait), list, stdin, close, output by offset
p=$(api POST "$S/processes" -d '{"command":["sh","-c","read x; echo got $x; echo err >&2; exit 4"],"stdin":true,"env":{"A":"1"},"workingDir":"/tmp","requestId":"r1"}')
expect "process id is an int64 string" "$(jget "$p" 'j["processId"]')" 1
expect "running, no exit code yet" "$(jget "$p" '(j["state"], "exitCode" in j, j["stdin"], j["workingDir"], j["env"])')" \
	"('PROCESS_STATE_RUNNING', False, True, '/tmp', {'A': '1'})"
expect "zero values omitted" "$(jget "$p" '[k for k in ("signal","timeoutSeconds","stdinClosed","stateReason","endTime") if k in j]')" "[]"
again=$(api POST "$S/processes" -d '{"command":["sh","-c","exit 9"],"requestId":"r1"}')
expect "requestId repeats the start" "$(jget "$again" 'j["processId"]')" 1
w=$(api POST "$S/processes/1/stdin" --data-binary 'hello
')
expect "stdin written (int64 string)" "$w" '{"written":"6"}'
expect "stdin close" "$(api POST "$S/processes/1/stdin:close")" "{}"
expect "stdin close is idempotent" "$(api POST "$S/processes/1/stdin:close")" "{}"
g=$(api GET "$S/processes/1?waitSeconds=10")
expect "waited to the end" "$(jget "$g" '(j["state"], j["exitCode"], j["stdoutBytes"], j["stderrBytes"], j["stdinClosed"])')" \
	"('PROCESS_STATE_EXITED', 4, '10', '4', True)"
expect "end time set" "$(jget "$g" 'j["endTime"].endswith("Z")')" true
hdr=$(curl -sS --unix-socket "$SOCK" -D - -o "$T/out" "http://sbxd$S/processes/1/stdout?offset=4")
expect "output from an offset" "$(cat "$T/out")" "hello"
expect "output headers" "$(tr -d '\r' <<<"$hdr" | grep -E '^X-Sbx-(Size|Eof|Offset)' | sort | tr '\n' ' ')" "X-Sbx-Eof: 1 X-Sbx-Offset: 4 X-Sbx-Size: 10 "
expect "stderr stream" "$(api GET "$S/processes/1/stderr")" "err"
l=$(api GET "$S/processes")
expect "list" "$(jget "$l" '[(p["processId"], p["state"]) for p in j["processes"]]')" "[('1', 'PROCESS_STATE_EXITED')]"
# a 0 exit code is observed, so it is present
api POST "$S/processes" -d '{"command":["true"]}' >/dev/null
expect "exit 0 present once ended" "$(jget "$(api GET "$S/processes/2?waitSeconds=10")" 'j["exitCode"]')" 0
# signal, its errors
api POST "$S/processes" -d '{"command":["sleep","60"]}' >/dev/null
expect "signal" "$(api POST "$S/processes/3:signal" -d '{"signal":9}')" "{}"
g=$(api GET "$S/processes/3?waitSeconds=10")
expect "killed" "$(jget "$g" '(j["state"], j["signal"], j["exitCode"])')" "('PROCESS_STATE_KILLED', 9, 137)"
out=$(st POST "$S/processes/3:signal" -d '{"signal":9}')
expect "signal an exited process" "$(err_reason "$(body_of "$out")")" CWSANDBOX_PROCESS_EXITED
out=$(st POST "$S/processes/3:signal" -d '{"signal":99}')
expect "bad signal" "$(bad_field "$(body_of "$out")")" signal
out=$(st POST "$S/processes/3:signal" -d '{"sig":9}')
expect "unknown field in signal" "$(bad_field "$(body_of "$out")")" sig
out=$(st POST "$S/processes/1/stdin" --data-binary x)
expect "stdin of an exited process" "$(err_reason "$(body_of "$out")")" CWSANDBOX_PROCESS_EXITED
out=$(st POST "$S/processes/2/stdin" --data-binary x)
expect "stdin of a process without one" "$(err_reason "$(body_of "$out")")" CWSANDBOX_STDIN_CLOSED
out=$(st GET "$S/processes/42")
expect "no process 404" "$(status_of "$out")" 404
expect "no process reason" "$(err_reason "$(body_of "$out")")" CWSANDBOX_PROCESS_NOT_FOUND
out=$(st GET "$S/processes/1?bogus=1")
expect "unknown query parameter named" "$(bad_field "$(body_of "$out")")" bogus
out=$(st POST "$S/processes" -d '{"command":["true"],"timeout":1}')
expect "unknown start field named" "$(bad_field "$(body_of "$out")")" timeout
out=$(st POST "$S/processes" -d '{"command":["true"],"sandboxId":"sbx-other"}')
expect "body sandboxId must match the path" "$(bad_field "$(body_of "$out")")" sandboxId
# the main command's output (an idle main writes nothing)
hdr=$(curl -sS --unix-socket "$SOCK" -D - -o "$T/main" "http://sbxd$S/stdout")
expect "main output" "$(tr -d '\r' <<<"$hdr" | grep -E '^X-Sbx-Size')" "X-Sbx-Size: 0"

# --- files: makeDir, listDir, statFile, removeFile
expect "mkdir" "$(api POST "$S:makeDir" -d '{"path":"/tmp/d","mode":448}')" "{}"
expect "mkdir mode 0 is a mode" "$(api POST "$S:makeDir" -d '{"path":"/tmp/d0","mode":0}')" "{}"
expect "mode 0 applied" "$(exec_out "$id" '["stat","-c","%a","/tmp/d0"]')" 0
api POST "$S:writeFile" -d "{\"path\":\"/tmp/d/x\",\"content\":\"$(b64 abc)\"}" >/dev/null
ld=$(api GET "$S:listDir?path=/tmp/d")
expect "list entry" "$(jget "$ld" '[(e["name"], e["type"], e["size"], e["mode"], e["nlink"], "ino" in e) for e in j["entries"]]')" \
	"[('x', 'FILE_TYPE_FILE', '3', 420, '1', True)]"
sf=$(api GET "$S:statFile?path=/tmp/d")
expect "stat" "$(jget "$sf" '(j["name"], j["type"], j["mode"], "uid" in j)')" "('d', 'FILE_TYPE_DIRECTORY', 448, False)"
expect "stat times" "$(jget "$sf" 'j["modifyTime"].endswith("Z") and j["changeTime"].endswith("Z")')" true
out=$(st POST "$S:removeFile" -d '{"path":"/tmp/d"}')
expect "rm non-empty" "$(err_reason "$(body_of "$out")")" CWSANDBOX_DIRECTORY_NOT_EMPTY
expect "rm non-empty errno" "$(jget "$(body_of "$out")" '[d for d in j["details"] if "ErrorInfo" in d["@type"]][0]["metadata"]["errno"]')" ENOTEMPTY
expect "rm -r" "$(api POST "$S:removeFile" -d '{"path":"/tmp/d","recursive":true}')" "{}"
long=$(python3 -c 'print("/tmp/" + "a" * 300)')
out=$(st GET "$S:statFile?path=$long")
expect "name too long" "$(err_reason "$(body_of "$out")")" CWSANDBOX_NAME_TOO_LONG
out=$(st GET "$S:listDir?path=/tmp&depth=1")
expect "listDir strict query" "$(bad_field "$(body_of "$out")")" depth

# --- posix
c=$(api POST "$S:createFile" -d '{"path":"/tmp/c","mode":384,"exclusive":true}')
expect "createFile entry" "$(jget "$c" '(j["name"], j["type"], j["mode"], "size" in j)')" "('c', 'FILE_TYPE_FILE', 384, False)"
out=$(st POST "$S:createFile" -d '{"path":"/tmp/c","exclusive":true}')
expect "exclusive create of an existing file" "$(status_of "$out")" 409
a=$(api POST "$S:setFileAttrs" -d '{"path":"/tmp/c","mode":420,"uid":1000,"gid":1000,"size":"5","modifyTime":"2020-01-02T03:04:05.5Z"}')
expect "setFileAttrs entry" "$(jget "$a" '(j["mode"], j["uid"], j["gid"], j["size"], j["modifyTime"])')" \
	"(420, 1000, 1000, '5', '2020-01-02T03:04:05.500Z')"
expect "rename" "$(api POST "$S:renameFile" -d '{"path":"/tmp/c","newPath":"/tmp/c2","noReplace":true}')" "{}"
expect "symlink" "$(jget "$(api POST "$S:createSymlink" -d '{"path":"/tmp/l","target":"../etc"}')" '(j["type"], j["linkTarget"], j["linkResolved"])')" \
	"('FILE_TYPE_SYMLINK', '../etc', '/etc')"
expect "hard link" "$(jget "$(api POST "$S:linkFile" -d '{"path":"/tmp/c2","newPath":"/tmp/c3"}')" '(j["name"], j["nlink"])')" "('c3', '2')"
expect "fifo node" "$(jget "$(api POST "$S:makeNode" -d '{"path":"/tmp/p","special":"fifo"}')" '(j["type"], j["special"], j["mode"])')" \
	"('FILE_TYPE_OTHER', 'fifo', 420)"
out=$(st POST "$S:makeNode" -d '{"path":"/tmp/dev","special":"char"}')
expect "no device nodes" "$(status_of "$out")" 403
expect "setXattr" "$(api POST "$S:setXattr" -d "{\"path\":\"/tmp/c2\",\"name\":\"user.k\",\"value\":\"$(b64 v)\"}")" "{}"
expect "getXattr" "$(api GET "$S:getXattr?path=/tmp/c2&name=user.k")" "{\"value\":\"$(b64 v)\"}"
expect "listXattrs" "$(api GET "$S:listXattrs?path=/tmp/c2")" '{"names":["user.k"]}'
expect "removeXattr" "$(api POST "$S:removeXattr" -d '{"path":"/tmp/c2","name":"user.k"}')" "{}"
expect "no xattrs: {}" "$(api GET "$S:listXattrs?path=/tmp/c2")" "{}"
fs=$(api GET "$S:statFileSystem?path=/")
expect "statFileSystem" "$(jget "$fs" '(int(j["blockSize"]) > 0, int(j["nameMax"]), "readOnly" in j)')" "(True, 255, False)"

# --- the real surface alone: extension paths are unmatched paths (404/5)
stop_sbxd
start_sbxd --no-extension
out=$(st GET "$S:listDir?path=/")
expect "no extension: 404" "$(status_of "$out")" 404
expect "no extension: code 5" "$(jget "$(body_of "$out")" 'j["code"]')" 5
out=$(st GET "$S:readFileRange?path=/etc/hostname")
expect "no extension: readFileRange 404" "$(status_of "$out")" 404
out=$(st POST "$S/processes" -d '{"command":["true"]}')
expect "no extension: processes 404" "$(status_of "$out")" 404
note done
