#!/bin/bash
# sbxd's "posix" file calls over HTTP: createFile with an exact mode,
# setFileAttrs (chmod, chown, truncate, ns times, "now"), renameFile
# (flags), the extra stat fields, and errors with the sandbox's errno by
# name in ErrorInfo metadata, from the one errno table.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

expect "discovery" "$(jget "$(api GET /v1/extensions)" '"posix" in j["extensions"]')" true
px=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
P=/v1/sandboxes/$px
st() { exec_out "$px" "[\"stat\",\"-c\",\"$1\",\"$2\"]"; }
# err BODY_JSON: "STATUS REASON ERRNO" of an error answer
err() { jget "$1" '"%d %s %s" % (j["code"], j["details"][0]["reason"], j["details"][0].get("metadata", {}).get("errno", "-"))'; }

# createFile: exactly the mode asked for (sbxd's umask does not apply)
e=$(api POST "$P:createFile" -d '{"path":"/tmp/c","mode":438}')
expect "create entry" "$(jget "$e" '(j["name"], j["type"], j["mode"], j.get("size", "0"), j.get("uid", 0), j["nlink"])')" "('c', 'FILE_TYPE_FILE', 438, '0', 0, '1')"
expect "create mode inside" "$(st %a /tmp/c)" 666
expect "create excl" "$(err "$(api POST "$P:createFile" -d '{"path":"/tmp/c","exclusive":true}')")" "6 CWSANDBOX_FILE_IO_FAILED EEXIST"
api POST "$P:writeFile" -d '{"path":"/tmp/c","content":"aGVsbG8="}' >/dev/null
e=$(api POST "$P:createFile" -d '{"path":"/tmp/c","mode":384}')
expect "create of an existing file keeps mode and bytes" "$(jget "$e" '(j["mode"], j["size"])')" "(438, '5')"
e=$(api POST "$P:createFile" -d '{"path":"/tmp/c","truncate":true}')
expect "create truncate (size 0 omitted)" "$(jget "$e" '"size" in j')" false
expect "create over a dir" "$(err "$(api POST "$P:createFile" -d '{"path":"/tmp","exclusive":false}')")" "9 CWSANDBOX_FILE_IS_DIRECTORY EISDIR"
expect "create in nothing" "$(err "$(api POST "$P:createFile" -d '{"path":"/no/x"}')")" "5 CWSANDBOX_FILE_NOT_FOUND ENOENT"
expect "create bad mode" "$(api_status POST "$P:createFile" -d '{"path":"/tmp/m","mode":70000}')" 400

# makeDir: exact mode too, and the setgid bit of the parent passed on
api POST "$P:makeDir" -d '{"path":"/tmp/d","mode":511}' >/dev/null
expect "mkdir 0777" "$(st %a /tmp/d)" 777
api POST "$P:setFileAttrs" -d '{"path":"/tmp/d","mode":1528}' >/dev/null
api POST "$P:makeDir" -d '{"path":"/tmp/d/sub","mode":448}' >/dev/null
expect "mkdir in a setgid dir" "$(st %a /tmp/d/sub)" 2700

# setFileAttrs: all fields, times with ns, "now", the entry afterwards
e=$(api POST "$P:setFileAttrs" -d '{"path":"/tmp/c","mode":2541,"uid":1000,"gid":"2000","size":"10","accessTime":"2001-02-03T04:05:06.123456789Z","modifyTime":"2010-01-01T00:00:00.5Z"}')
expect "setattr entry" "$(jget "$e" '(j["mode"], j["uid"], j["gid"], j["size"], j["accessTime"], j["modifyTime"])')" "(2541, 1000, 2000, '10', '2001-02-03T04:05:06.123456789Z', '2010-01-01T00:00:00.500Z')"
expect "setattr inside" "$(st '%a %u %g %s %x|%y' /tmp/c)" "4755 1000 2000 10 2001-02-03 04:05:06.123456789 +0000|2010-01-01 00:00:00.500000000 +0000"
before=$(date +%s)
e=$(api POST "$P:setFileAttrs" -d '{"path":"/tmp/c","modifyTime":"now"}')
[ "$(st %Y /tmp/c)" -ge "$before" ] || fail "modifyTime now"
expect "atime left alone" "$(st %x /tmp/c)" "2001-02-03 04:05:06.123456789 +0000"
expect "chown clears setuid" "$(jget "$(api POST "$P:setFileAttrs" -d '{"path":"/tmp/c","uid":0}')" 'j["mode"]')" 493
expect "bad time" "$(api_status POST "$P:setFileAttrs" -d '{"path":"/tmp/c","modifyTime":"yesterday"}')" 400
expect "bad uid" "$(api_status POST "$P:setFileAttrs" -d '{"path":"/tmp/c","uid":-1}')" 400
expect "truncate a dir" "$(err "$(api POST "$P:setFileAttrs" -d '{"path":"/tmp/d","size":0}')")" "9 CWSANDBOX_FILE_IS_DIRECTORY EISDIR"
exec_out "$px" '["ln","-s","/etc/passwd","/tmp/l"]' >/dev/null
expect "chmod of a link" "$(err "$(api POST "$P:setFileAttrs" -d '{"path":"/tmp/l","mode":511}')")" "13 CWSANDBOX_FILE_IO_FAILED EOPNOTSUPP"
e=$(api POST "$P:setFileAttrs" -d '{"path":"/tmp/l","modifyTime":"2001-01-01T00:00:00Z"}')
expect "times of a link itself" "$(jget "$e" '(j["type"], j["modifyTime"], j["linkTarget"])')" "('FILE_TYPE_SYMLINK', '2001-01-01T00:00:00Z', '/etc/passwd')"
[ "$(st %Y /etc/passwd)" != 978307200 ] || fail "the link's target got the time"
expect "device node" "$(err "$(api POST "$P:setFileAttrs" -d '{"path":"/dev/null","mode":384}')")" "7 CWSANDBOX_FILE_PERMISSION_DENIED EPERM"
expect "pseudo file system" "$(api_status POST "$P:setFileAttrs" -d '{"path":"/proc/1/status","mode":384}')" 400

# renameFile: plain, flags, and the kernel's errors
api POST "$P:writeFile" -d '{"path":"/tmp/a","content":"YQ=="}' >/dev/null
expect "rename" "$(api POST "$P:renameFile" -d '{"path":"/tmp/a","newPath":"/tmp/d/b"}')" "{}"
expect "renamed inside" "$(exec_out "$px" '["cat","/tmp/d/b"]')" a
expect "noReplace" "$(err "$(api POST "$P:renameFile" -d '{"path":"/tmp/c","newPath":"/tmp/d/b","noReplace":true}')")" "6 CWSANDBOX_FILE_IO_FAILED EEXIST"
expect "exchange" "$(api POST "$P:renameFile" -d '{"path":"/tmp/c","newPath":"/tmp/d/b","exchange":true}')" "{}"
expect "exchanged" "$(exec_out "$px" '["cat","/tmp/c"]')" a
expect "both flags" "$(api_status POST "$P:renameFile" -d '{"path":"/tmp/c","newPath":"/tmp/x","exchange":true,"noReplace":true}')" 400
expect "relative newPath" "$(api_status POST "$P:renameFile" -d '{"path":"/tmp/c","newPath":"x"}')" 400
api POST "$P:makeDir" -d '{"path":"/tmp/e"}' >/dev/null
expect "over a non-empty dir" "$(err "$(api POST "$P:renameFile" -d '{"path":"/tmp/e","newPath":"/tmp/d"}')")" "9 CWSANDBOX_DIRECTORY_NOT_EMPTY ENOTEMPTY"
expect "dir over a file" "$(err "$(api POST "$P:renameFile" -d '{"path":"/tmp/e","newPath":"/tmp/c"}')")" "13 CWSANDBOX_FILE_IO_FAILED ENOTDIR"
expect "a mount point (another mount)" "$(err "$(api POST "$P:renameFile" -d '{"path":"/tmp","newPath":"/tmp2"}')")" "13 CWSANDBOX_FILE_IO_FAILED EXDEV"
expect "the root" "$(err "$(api POST "$P:renameFile" -d '{"path":"/","newPath":"/x"}')")" "13 CWSANDBOX_FILE_IO_FAILED EBUSY"
expect "over the root" "$(err "$(api POST "$P:renameFile" -d '{"path":"/tmp/c","newPath":"/"}')")" "13 CWSANDBOX_FILE_IO_FAILED EBUSY"
expect "name too long" "$(api_status POST "$P:renameFile" -d "{\"path\":\"/tmp/c\",\"newPath\":\"/tmp/$(printf 'n%.0s' $(seq 256))\"}")" 400

# the extra stat fields, in listDir as in statFile (a uid, gid or block
# count of 0 is left out, as proto3 JSON does)
l=$(api GET "$P:listDir?path=/tmp/d")
expect "list fields" "$(jget "$l" 'sorted(set(k for e in j["entries"] for k in e) >= {"nlink","accessTime","changeTime","ino"} for _ in [0])')" "[True]"
expect "owners (an absent id is 0)" "$(jget "$l" 'sorted((e.get("uid", 0), e.get("gid", 0)) for e in j["entries"])')" "[(0, 0), (0, 2000)]"
s=$(api GET "$P:statFile?path=/tmp/d")
expect "nlink of a dir (uint64: a string)" "$(jget "$s" 'j["nlink"]')" "$(st %h /tmp/d)"
api POST "$P:writeFile" -d "{\"path\":\"/tmp/big\",\"content\":\"$(head -c 65536 /dev/zero | base64 -w0)\"}" >/dev/null
expect "blocks" "$(jget "$(api GET "$P:statFile?path=/tmp/big")" 'j["blocks"]')" "$(st %b /tmp/big)"
# sbxd's own refusals carry no errno
api DELETE "$P?gracePeriodSeconds=0" >/dev/null
wait_state "$px" STATE_TERMINATED 10
# (a stopped sandbox keeps its files read-only: EROFS, the kernel's word)
expect "stopped: read-only" "$(err "$(api POST "$P:setFileAttrs" -d '{"path":"/tmp/c","mode":384}')")" "7 CWSANDBOX_FILE_PERMISSION_DENIED EROFS"
echo ok
