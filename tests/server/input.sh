#!/bin/bash
# Bad input at the API (issue 9, part 4): bytes that are not UTF-8 in any
# string of a JSON body (tags, env, argv, name, paths...) and %00 or such
# bytes in any URL path segment or query argument are refused with 400
# INVALID_ARGUMENT and a google.rpc.BadRequest field violation naming the
# field; "DELETE /v1/sandboxes/ID%00x" no longer reaches sandbox ID; and
# every answer stays strict UTF-8 JSON, even when a file name or a
# process's own line inside the sandbox is not UTF-8.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

# raw METHOD TARGET [BODYFILE]: one request with the target and body sent
# byte for byte (curl would re-encode); prints "STATUS" then the body,
# which must decode as strict UTF-8 and parse as JSON.
raw() {
	python3 - "$SOCK" "$@" <<'EOF'
import json, socket, sys
sock, method, target = sys.argv[1], sys.argv[2], sys.argv[3].encode('latin-1')
target = target.decode('unicode_escape').encode('latin-1')  # \xff in the argument = byte 0xff
body = open(sys.argv[4], 'rb').read() if len(sys.argv) > 4 else b''
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
s.sendall(method.encode() + b' ' + target + b' HTTP/1.1\r\nHost: sbxd\r\nConnection: close\r\n'
          b'Content-Type: application/json\r\nContent-Length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)
resp = b''
while True:
    b = s.recv(65536)
    if not b:
        break
    resp += b
head, _, payload = resp.partition(b'\r\n\r\n')
status = head.split(b' ')[1].decode()
if b'chunked' in head.lower():
    out, rest = b'', payload
    while rest:
        n, _, rest = rest.partition(b'\r\n')
        n = int(n, 16)
        if n == 0:
            break
        out, rest = out + rest[:n], rest[n + 2:]
    payload = out
try:
    j = json.loads(payload.decode('utf-8', errors='strict'))
except Exception as e:
    print(status)
    print('NOT-STRICT-JSON: %r %r' % (e, payload[:200]))
    sys.exit(0)
print(status)
print(json.dumps(j))
EOF
}

# body FILE PYEXPR: writes the bytes of a Python bytes expression to FILE
body() { python3 -c 'import sys; open(sys.argv[1], "wb").write(eval(sys.argv[2]))' "$1" "$2"; }

# refused METHOD TARGET FIELD [BODYFILE]: 400, code 3, a BadRequest whose
# field violation names FIELD
refused() {
	local out st j
	out=$(raw "$1" "$2" ${4:+"$4"} 2>&1) || fail "raw $1 $2: $out"
	st=${out%%$'\n'*}
	j=${out#*$'\n'}
	expect "$1 $2 status" "$st" 400
	expect "$1 $2 answer" "$(jget "$j" '"%s %s" % (j["code"], [v["field"] for d in j["details"] if d["@type"].endswith("google.rpc.BadRequest") for v in d["fieldViolations"]])')" "3 ['$3']"
}

id=$(create "$(sbx_body name=box tag=t1)")
wait_state "$id" STATE_RUNNING

# --- JSON bodies: every string field, member names too
body "$T/b" 'b"{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\"}],\"tags\":[\"ok\",\"bad\xff\"]}}"'
refused POST /v1/sandboxes spec.tags[1] "$T/b"
body "$T/b" 'b"{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\",\"environmentVariables\":{\"K\":\"\xc3\"}}]}}"'
refused POST /v1/sandboxes spec.containers[0].environmentVariables.K "$T/b"
body "$T/b" 'b"{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\",\"environmentVariables\":{\"K\xe9\":\"v\"}}]}}"'
refused POST /v1/sandboxes spec.containers[0].environmentVariables "$T/b"
body "$T/b" 'b"{\"spec\":{\"containers\":[{\"name\":\"b\xffx\",\"image\":\"default\"}]}}"'
refused POST /v1/sandboxes spec.containers[0].name "$T/b"
body "$T/b" 'b"{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\",\"command\":\"/bin/echo\",\"args\":[\"\xed\xa0\x80\"]}]}}"'
refused POST /v1/sandboxes spec.containers[0].args[0] "$T/b"
body "$T/b" 'b"{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\",\"workingDir\":\"/\xfe\"}]}}"'
refused POST /v1/sandboxes spec.containers[0].workingDir "$T/b"
body "$T/b" 'b"{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"\xc0\xae\"}]}}"'
refused POST /v1/sandboxes spec.containers[0].image "$T/b"
body "$T/b" 'b"{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"default\"}],\"annotations\":{\"a\":\"\x80\"}}}"'
refused POST /v1/sandboxes spec.annotations.a "$T/b"
body "$T/b" 'b"{\"command\":[\"echo\",\"\xff\"]}"'
refused POST "/v1/sandboxes/$id:exec" 'command[1]' "$T/b"
refused POST "/v1/sandboxes/$id/processes" 'command[1]' "$T/b"
body "$T/b" 'b"{\"command\":[\"true\"],\"env\":{\"A\":\"\xf5\x80\x80\x80\"}}"'
refused POST "/v1/sandboxes/$id:exec" env.A "$T/b"
body "$T/b" 'b"{\"command\":[\"true\"],\"workingDir\":\"/t\xff\"}"'
refused POST "/v1/sandboxes/$id/processes" workingDir "$T/b"
body "$T/b" 'b"{\"path\":\"/tmp/\xff\",\"content\":\"aGk=\"}"'
refused POST "/v1/sandboxes/$id:writeFile" path "$T/b"
body "$T/b" 'b"{\"path\":\"/tmp/a\\u0000b\"}"'
refused POST "/v1/sandboxes/$id:makeDir" path "$T/b"
body "$T/b" 'b"{\"path\":\"/tmp/\xe0\x80\x80\",\"recursive\":true}"'
refused POST "/v1/sandboxes/$id:removeFile" path "$T/b"
# nothing was made by the refused writes
expect "no file" "$(exec_sh "$id" 'ls /tmp | wc -l')" 0
# a valid multi-byte name still works
body "$T/b" 'b"{\"path\":\"/tmp/caf\xc3\xa9\",\"content\":\"aGk=\"}"'
expect "utf-8 write" "$(raw POST "/v1/sandboxes/$id:writeFile" "$T/b" | head -1)" 200

# --- URLs: %00 and bytes that are not UTF-8, in the path and the query
refused DELETE "/v1/sandboxes/$id%00x" sandboxId
refused DELETE "/v1/sandboxes/box%00anything" sandboxId
refused GET "/v1/sandboxes/$id%00x" sandboxId
refused POST "/v1/sandboxes/$id%00x:exec" sandboxId
refused GET "/v1/sandboxes/$id%ff" sandboxId
refused GET "/v1/sandboxes/$id\\xff" sandboxId
refused GET "/v1/sandboxes/$id/processes/1%00" processId
refused GET "/v1/sandboxes/$id:readFile?path=/etc/hostname%00x" path
refused GET "/v1/sandboxes/$id:listDir?path=/tmp%ff" path
refused GET "/v1/sandboxes/$id:statFile?path=/\\xfe" path
refused GET "/v1/sandboxes?tags=t1%C3" tags
refused GET "/v1/sandboxes?pageSize=1%00" pageSize
refused DELETE "/v1/sandboxes/$id?gracePeriodSeconds=0%00" gracePeriodSeconds
expect "still running after the %00 deletes" "$(state_of "$id")" STATE_RUNNING
expect "by name too" "$(state_of "$(sbx_id box)")" STATE_RUNNING
# a valid percent-encoded UTF-8 tag is a fine query
out=$(raw GET "/v1/sandboxes?tags=caf%C3%A9")
expect "utf-8 tag query" "${out%%$'\n'*}" 200

# --- answers stay strict UTF-8 whatever the sandbox holds
# a file whose name is not UTF-8, and a symlink whose target is not
exec_sh "$id" 'touch "/tmp/$(printf "n\377m")"; ln -s "$(printf "/x\376")" /tmp/lnk' >/dev/null
out=$(raw GET "/v1/sandboxes/$id:listDir?path=/tmp")
expect "listDir status" "${out%%$'\n'*}" 200
expect "listDir names" "$(jget "${out#*$'\n'}" 'sorted(e["name"] for e in j["entries"])')" "['café', 'lnk', 'n?m']"
expect "listDir link" "$(jget "${out#*$'\n'}" '[e.get("linkTarget") for e in j["entries"] if e["name"] == "lnk"]')" "['/x?']"
# a process line that sbxd turns into stateReason ("sbx: ..." + exit 127)
api POST "/v1/sandboxes/$id/processes" -d '{"command":["sh","-c","printf \"sbx: \\377\\376: nope\\n\" >&2; exit 127"]}' >/dev/null
out=$(raw GET "/v1/sandboxes/$id/processes/1?waitSeconds=10")
expect "process status" "${out%%$'\n'*}" 200
expect "stateReason" "$(jget "${out#*$'\n'}" 'j["state"] + " " + j["stateReason"]')" "PROCESS_STATE_FAILED ??: nope"
# the list, with every sandbox, is strict JSON
out=$(raw GET "/v1/sandboxes?showTerminated=true")
expect "list status" "${out%%$'\n'*}" 200
expect "list" "$(jget "${out#*$'\n'}" 'len(j.get("sandboxes", []))')" 1
out=$(raw GET "/v1/sandboxes/$id/processes")
expect "processes" "$(jget "${out#*$'\n'}" 'len(j["processes"])')" 1
echo ok
