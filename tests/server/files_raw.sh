#!/bin/bash
# sbxd's raw file data path ("posix" extension): :writeFileAt with an
# application/octet-stream body and the place in the query, :readFileRange
# with raw=true answering the bytes as the body with X-Sbx-Size / X-Sbx-Eof, and
# the new node calls (createSymlink, linkFile, makeNode, statFileSystem,
# the xattr calls) with their errors, checked inside through :exec.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

rw=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
P=/v1/sandboxes/$rw
inbox() { exec_out "$rw" "$(python3 -c 'import json,sys; print(json.dumps(["sh", "-c", sys.argv[1]]))' "$1")"; }

# Raw write: every byte value, at offsets, appended; read back raw.
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 64)' >"$T/bytes"
expect "raw write" "$(api_status POST "$P:writeFileAt?path=/tmp/r" -H 'Content-Type: application/octet-stream' --data-binary @"$T/bytes")" 200
expect "raw write inside" "$(inbox 'sha256sum /tmp/r | cut -c1-64')" "$(sha256sum <"$T/bytes" | cut -c1-64)"
printf 'XY' >"$T/xy"
expect "raw write at an offset" "$(api_status POST "$P:writeFileAt?path=/tmp/r&offset=3&truncate=false" -H 'Content-Type: application/octet-stream' --data-binary @"$T/xy")" 200
expect "raw append" "$(api_status POST "$P:writeFileAt?path=/tmp/r&append=true&truncate=false" -H 'Content-Type: application/octet-stream' --data-binary @"$T/xy")" 200
expect "size inside" "$(inbox 'stat -c %s /tmp/r')" 16386
expect "bytes at the offset inside" "$(inbox 'dd if=/tmp/r bs=1 skip=2 count=4 2>/dev/null | od -An -c | tr -d " "')" 002XY005
curl -sS --unix-socket "$SOCK" -D "$T/h" -o "$T/got" "http://sbxd$P:readFileRange?path=/tmp/r&offset=16380&length=100&raw=true"
expect "raw read bytes" "$(od -An -c "$T/got" | tr -d ' \n')" '374375376377XY'
expect "raw read size header" "$(tr -d '\r' <"$T/h" | sed -n 's/^X-Sbx-Size: //Ip')" 16386
expect "raw read eof header" "$(tr -d '\r' <"$T/h" | sed -n 's/^X-Sbx-Eof: //Ip')" 1
expect "raw read content type" "$(tr -d '\r' <"$T/h" | sed -n 's/^Content-Type: //Ip')" application/octet-stream
expect "raw read of a missing file" "$(api_status GET "$P:readFileRange?path=/tmp/none&length=10&raw=true")" 404
expect "raw write with a bad offset" "$(api_status POST "$P:writeFileAt?path=/tmp/r&offset=x" -H 'Content-Type: application/octet-stream' --data-binary @"$T/xy")" 400
# A raw body is no JSON: the same bytes with the JSON content type are
# refused, and the real writeFile has no raw form.
expect "no raw writeFile" "$(api_status POST "$P:writeFile?path=/tmp/r" -H 'Content-Type: application/octet-stream' --data-binary @"$T/xy")" 400
expect "binary bytes as JSON" "$(api_status POST "$P:writeFileAt" -H 'Content-Type: application/json' --data-binary @"$T/bytes")" 400

# The node calls.
e=$(api POST "$P:createSymlink" -d '{"path":"/tmp/l","target":"/etc/passwd"}')
expect "symlink entry" "$(jget "$e" '(j["type"], j["linkTarget"])')" "('FILE_TYPE_SYMLINK', '/etc/passwd')"
expect "symlink inside" "$(inbox 'readlink /tmp/l')" /etc/passwd
expect "empty symlink text" "$(jget "$(api POST "$P:createSymlink" -d '{"path":"/tmp/l0","target":""}')" 'j["details"][0]["metadata"]["errno"]')" ENOENT
e=$(api POST "$P:linkFile" -d '{"path":"/tmp/r","newPath":"/tmp/r2"}')
expect "link entry" "$(jget "$e" 'j["nlink"]')" 2   # uint64: "2"
expect "link across file systems" "$(jget "$(api POST "$P:linkFile" -d '{"path":"/tmp/r","newPath":"/r3"}')" 'j["details"][0]["metadata"]["errno"]')" EXDEV
expect "link inode" "$(jget "$e" 'j["ino"]')" "$(inbox 'stat -c %i /tmp/r')"
api POST "$P:makeDir" -d '{"path":"/tmp/dir"}' >/dev/null
expect "link of a directory" "$(jget "$(api POST "$P:linkFile" -d '{"path":"/tmp/dir","newPath":"/tmp/dir2"}')" 'j["details"][0]["metadata"]["errno"]')" EPERM
e=$(api POST "$P:makeNode" -d '{"path":"/tmp/p","special":"fifo","mode":384}')
expect "fifo entry" "$(jget "$e" '(j["type"], j["special"], j["mode"])')" "('FILE_TYPE_OTHER', 'fifo', 384)"
expect "fifo inside" "$(inbox 'stat -c "%F %a" /tmp/p')" "fifo 600"
expect "device refused" "$(api_status POST "$P:makeNode" -d '{"path":"/tmp/d","special":"char"}')" 403
expect "no device made" "$(inbox 'test -e /tmp/d && echo yes || echo no')" no
expect "bad special" "$(api_status POST "$P:makeNode" -d '{"path":"/tmp/d","special":"door"}')" 400
e=$(api GET "$P:statFileSystem?path=/tmp")
expect "statfs" "$(jget "$e" 'int(j["blocks"]) > 0 and int(j["nameMax"]) == 255 and "readOnly" not in j')" true
# xattrs: user.* only
expect "setXattr" "$(api_status POST "$P:setXattr" -d '{"path":"/tmp/r","name":"user.k","value":"dg=="}')" 200
expect "getXattr" "$(jget "$(api GET "$P:getXattr?path=/tmp/r&name=user.k")" 'j["value"]')" dg==
expect "listXattrs" "$(jget "$(api GET "$P:listXattrs?path=/tmp/r")" 'j["names"]')" "['user.k']"
expect "trusted.* refused" "$(jget "$(api POST "$P:setXattr" -d '{"path":"/tmp/r","name":"trusted.k","value":"dg=="}')" 'j["details"][0]["metadata"]["errno"]')" EOPNOTSUPP
expect "security.* not read" "$(jget "$(api GET "$P:getXattr?path=/tmp/r&name=security.capability")" 'j["details"][0]["metadata"]["errno"]')" ENODATA
expect "removeXattr" "$(api_status POST "$P:removeXattr" -d '{"path":"/tmp/r","name":"user.k"}')" 200
expect "removed" "$(jget "$(api GET "$P:getXattr?path=/tmp/r&name=user.k")" 'j["details"][0]["metadata"]["errno"]')" ENODATA
echo "# files_raw ok"
