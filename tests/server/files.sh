#!/bin/bash
# File calls: write, read, ranged reads and writes (the extension's
# :readFileRange and :writeFileAt), append, offset writes, list, stat,
# mkdir, remove (recursive), and their errors.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

f=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
S=/v1/sandboxes/$f
expect "write" "$(api POST "$S:writeFile" -d '{"path":"/tmp/a.txt","content":"aGVsbG8gd29ybGQK"}')" "{}"
expect "seen inside" "$(exec_out "$f" '["cat","/tmp/a.txt"]')" "hello world"
r=$(api GET "$S:readFile?path=/tmp/a.txt")
expect "read" "$(b64d "$(jget "$r" 'j["content"]')")" "hello world"
r=$(api GET "$S:readFileRange?path=/tmp/a.txt&offset=0")
expect "size" "$(jget "$r" 'j["size"]')" 12
r=$(api GET "$S:readFileRange?path=/tmp/a.txt&offset=6&length=5")
expect "ranged read" "$(b64d "$(jget "$r" 'j["content"]')")" world
expect "not eof" "$(jget "$r" 'j.get("eof", False)')" false
api POST "$S:writeFileAt" -d '{"path":"/tmp/a.txt","content":"bW9yZQo=","append":true}' >/dev/null
api POST "$S:writeFileAt" -d '{"path":"/tmp/a.txt","content":"SA==","offset":"0"}' >/dev/null
expect "append + offset write" "$(exec_out "$f" '["cat","/tmp/a.txt"]')" "$(printf 'Hello world\nmore')"
expect "mkdir" "$(api POST "$S:makeDir" -d '{"path":"/tmp/d","mode":448}')" "{}"
api POST "$S:writeFileAt" -d '{"path":"/tmp/d/x","mode":493}' >/dev/null
l=$(api GET "$S:listDir?path=/tmp/d")
expect "list" "$(jget "$l" '[(e["name"], e["type"], e["mode"]) for e in j["entries"]]')" "[('x', 'FILE_TYPE_FILE', 493)]"
s=$(api GET "$S:statFile?path=/tmp/d")
expect "stat dir" "$(jget "$s" '(j["name"], j["type"], j["mode"])')" "('d', 'FILE_TYPE_DIRECTORY', 448)"
expect "stat mtime" "$(jget "$s" 'j["modifyTime"].endswith("Z")')" true
expect "mkdir exists" "$(api_status POST "$S:makeDir" -d '{"path":"/tmp/d"}')" 409
expect "rm non-empty" "$(api_status POST "$S:removeFile" -d '{"path":"/tmp/d"}')" 400
expect "rm -r" "$(api POST "$S:removeFile" -d '{"path":"/tmp/d","recursive":true}')" "{}"
expect "gone" "$(exec_out "$f" '["sh","-c","test -e /tmp/d && echo there || echo gone"]')" gone
out=$(api GET "$S:readFile?path=/no/such")
expect "missing file" "$(err_reason "$out")" CWSANDBOX_FILE_NOT_FOUND
expect "relative path" "$(api_status GET "$S:readFile?path=etc/passwd")" 400
expect "no path" "$(api_status GET "$S:statFile")" 400
expect "bad content" "$(api_status POST "$S:writeFile" -d '{"path":"/tmp/z","content":"!!"}')" 400
# a 3 MiB write and read back
head -c $((3 << 20)) /dev/urandom >"$T/blob"
python3 -c 'import base64,json,sys; print(json.dumps({"path":"/tmp/blob","content":base64.b64encode(open(sys.argv[1],"rb").read()).decode()}))' "$T/blob" >"$T/blob.json"
expect "big write" "$(api POST "$S:writeFile" --data-binary @"$T/blob.json")" "{}"
api GET "$S:readFile?path=/tmp/blob" >"$T/blob.out"
python3 -c 'import base64,json,sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["content"]))' "$T/blob.out" | cmp - "$T/blob" || fail "big read differs"
note "files ok"
