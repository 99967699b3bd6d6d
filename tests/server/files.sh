#!/bin/bash
# File calls: write, read (ranges), append, offset writes, list, stat,
# mkdir, remove (recursive), and their errors.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

f_id=$(create "$(sbx_body name=f)")
expect "write" "$(api POST /v1/sandboxes/$f_id:writeFile -d '{"path":"/tmp/a.txt","content":"aGVsbG8gd29ybGQK"}')" "{}"
expect "seen inside" "$(exec_out "$f_id" '["cat","/tmp/a.txt"]')" "hello world"
r=$(api GET "/v1/sandboxes/$f_id"':readFile?path=/tmp/a.txt')
expect "read" "$(b64d "$(jget "$r" 'j["content"]')")" "hello world"
expect "size" "$(jget "$r" 'j["size"]')" 12
r=$(api GET "/v1/sandboxes/$f_id"':readFile?path=/tmp/a.txt&offset=6&length=5')
expect "ranged read" "$(b64d "$(jget "$r" 'j["content"]')")" world
expect "not eof" "$(jget "$r" 'j["eof"]')" false
api POST /v1/sandboxes/"$f_id":writeFile -d '{"path":"/tmp/a.txt","content":"bW9yZQo=","append":true}' >/dev/null
api POST /v1/sandboxes/"$f_id":writeFile -d '{"path":"/tmp/a.txt","content":"SA==","offset":"0"}' >/dev/null
expect "append + offset write" "$(exec_out "$f_id" '["cat","/tmp/a.txt"]')" "$(printf 'Hello world\nmore')"
expect "mkdir" "$(api POST /v1/sandboxes/$f_id:makeDir -d '{"path":"/tmp/d","mode":448}')" "{}"
api POST /v1/sandboxes/"$f_id":writeFile -d '{"path":"/tmp/d/x","content":"","mode":493}' >/dev/null
l=$(api GET "/v1/sandboxes/$f_id"':listDir?path=/tmp/d')
expect "list" "$(jget "$l" '[(e["name"], e["type"], e["mode"]) for e in j["entries"]]')" "[('x', 'FILE_TYPE_FILE', 493)]"
s=$(api GET "/v1/sandboxes/$f_id"':statFile?path=/tmp/d')
expect "stat dir" "$(jget "$s" '(j["name"], j["type"], j["mode"])')" "('d', 'FILE_TYPE_DIRECTORY', 448)"
expect "stat mtime" "$(jget "$s" 'j["modifyTime"].endswith("Z")')" true
expect "mkdir exists" "$(api_status POST /v1/sandboxes/$f_id:makeDir -d '{"path":"/tmp/d"}')" 409
expect "rm non-empty" "$(api_status POST /v1/sandboxes/$f_id:removeFile -d '{"path":"/tmp/d"}')" 400
expect "rm -r" "$(api POST /v1/sandboxes/$f_id:removeFile -d '{"path":"/tmp/d","recursive":true}')" "{}"
expect "gone" "$(exec_out "$f_id" '["sh","-c","test -e /tmp/d && echo there || echo gone"]')" gone
out=$(api GET "/v1/sandboxes/$f_id"':readFile?path=/no/such')
expect "missing file" "$(err_reason "$out")" CWSANDBOX_FILE_NOT_FOUND
expect "relative path" "$(api_status GET "/v1/sandboxes/$f_id:readFile?path=etc/passwd")" 400
expect "no path" "$(api_status GET "/v1/sandboxes/$f_id:statFile")" 400
expect "bad content" "$(api_status POST /v1/sandboxes/$f_id:writeFile -d '{"path":"/tmp/z","content":"!!"}')" 400
# a 3 MiB write and read back
head -c $((3 << 20)) /dev/urandom >"$T/blob"
python3 -c 'import base64,json,sys; print(json.dumps({"path":"/tmp/blob","content":base64.b64encode(open(sys.argv[1],"rb").read()).decode()}))' "$T/blob" >"$T/blob.json"
expect "big write" "$(api POST /v1/sandboxes/$f_id:writeFile --data-binary @"$T/blob.json")" "{}"
api GET "/v1/sandboxes/$f_id"':readFile?path=/tmp/blob' >"$T/blob.out"
python3 -c 'import base64,json,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["content"]))' "$T/blob.out" | cmp - "$T/blob" || fail "big read differs"
note "files ok"
