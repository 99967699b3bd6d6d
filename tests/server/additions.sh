#!/bin/bash
# The second-round additions of docs/api.md: symlink targets in listDir and
# statFile, :forget (the old DELETE ?purge=true) (also with a reader parked on the output),
# exit codes of stopped sandboxes (143/137, idle ones too, lifetime), the
# reserved "sbx-" name prefix, big commands refused with 400 (never a 5xx)
# and the file errors CWSANDBOX_DIRECTORY_NOT_EMPTY / CWSANDBOX_NAME_TOO_LONG.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

ec_of() { jget "$(api GET "/v1/sandboxes/$1")" 'j["status"]["exitCode"]'; }

# ---- 4. names
out=$(api POST /v1/sandboxes -d "$(sbx_body name=sbx-0123)")
expect "sbx- name refused" "$(err_reason "$out")" CWSANDBOX_INVALID_REQUEST
expect "sbx- name status" "$(api_status POST /v1/sandboxes -d "$(sbx_body name=sbx-x)")" 400
expect "sbx- names mention the prefix" "$(jget "$out" '"reserved" in j["message"]')" true

# ---- 1. symlinks
fid=$(create "$(sbx_body name=f)")
exec_sh "$fid" 'mkdir /tmp/l && ln -s ../etc/passwd /tmp/l/rel && ln -s /nowhere/at/all /tmp/l/dangling && echo x >/tmp/l/file' >/dev/null
l=$(api GET "/v1/sandboxes/$fid"':listDir?path=/tmp/l')
expect "list symlinks" "$(jget "$l" 'sorted((e["name"], e["type"], e.get("linkTarget")) for e in j["entries"])')" \
	"[('dangling', 'FILE_TYPE_SYMLINK', '/nowhere/at/all'), ('file', 'FILE_TYPE_FILE', None), ('rel', 'FILE_TYPE_SYMLINK', '../etc/passwd')]"
s=$(api GET "/v1/sandboxes/$fid"':statFile?path=/tmp/l/rel')
expect "stat does not follow" "$(jget "$s" '(j["name"], j["type"], j["linkTarget"], j["size"])')" \
	"('rel', 'FILE_TYPE_SYMLINK', '../etc/passwd', '13')"
s=$(api GET "/v1/sandboxes/$fid"':statFile?path=/tmp/l/dangling')
expect "stat dangling" "$(jget "$s" '(j["type"], j["linkTarget"])')" "('FILE_TYPE_SYMLINK', '/nowhere/at/all')"
long=$(python3 -c 'print("/" + "t" * 4000)')
exec_sh "$fid" "ln -s '$long' /tmp/l/long" >/dev/null
s=$(api GET "/v1/sandboxes/$fid"':statFile?path=/tmp/l/long')
expect "long target" "$(jget "$s" 'j["linkTarget"]')" "$long"

# ---- 6. file errors
exec_sh "$fid" 'mkdir -p /tmp/ne/sub && echo y >/tmp/ne/sub/f' >/dev/null
out=$(api POST /v1/sandboxes/"$fid":removeFile -d '{"path":"/tmp/ne"}')
expect "not empty" "$(err_reason "$out")" CWSANDBOX_DIRECTORY_NOT_EMPTY
expect "not empty code" "$(jget "$out" 'j["code"]')" 9
expect "not empty status" "$(api_status POST /v1/sandboxes/$fid:removeFile -d '{"path":"/tmp/ne/sub"}')" 400
expect "still there" "$(exec_sh "$fid" 'cat /tmp/ne/sub/f')" y
expect "empty dir removed" "$(api POST /v1/sandboxes/$fid:makeDir -d '{"path":"/tmp/e"}')$(api POST /v1/sandboxes/$fid:removeFile -d '{"path":"/tmp/e"}')" "{}{}"
n256=$(python3 -c 'print("n" * 256)')
n255=$(python3 -c 'print("n" * 255)')
for call in "GET /v1/sandboxes/$fid:statFile?path=/tmp/$n256" "GET /v1/sandboxes/$fid:readFileRange?path=/tmp/$n256/x" \
	"GET /v1/sandboxes/$fid:listDir?path=/$n256"; do
	out=$(api $call)
	expect "name too long: $call" "$(err_reason "$out")/$(jget "$out" 'j["code"]')" CWSANDBOX_NAME_TOO_LONG/3
done
# the real calls never get the extension's own reason: the schema's one
out=$(api GET "/v1/sandboxes/$fid:readFile?path=/tmp/$n256/x")
expect "readFile name too long" "$(err_reason "$out")/$(jget "$out" 'j["code"]')" CWSANDBOX_INVALID_REQUEST/3
out=$(api POST /v1/sandboxes/"$fid":makeDir -d "{\"path\":\"/tmp/$n256\"}")
expect "mkdir name too long" "$(err_reason "$out")" CWSANDBOX_NAME_TOO_LONG
out=$(api POST /v1/sandboxes/"$fid":writeFileAt -d "{\"path\":\"/tmp/$n256\",\"content\":\"\"}")
expect "writeFileAt name too long" "$(err_reason "$out")" CWSANDBOX_NAME_TOO_LONG
out=$(api POST /v1/sandboxes/"$fid":writeFile -d "{\"path\":\"/tmp/$n256\",\"content\":\"\"}")
expect "writeFile name too long" "$(err_reason "$out")" CWSANDBOX_INVALID_REQUEST
expect "255 is fine" "$(api POST /v1/sandboxes/$fid:writeFile -d "{\"path\":\"/tmp/$n255\",\"content\":\"eA==\"}")" "{}"
p4096=$(python3 -c 'print(("/" + "d" * 200) * 20 + "/" + "e" * 75)')
out=$(api GET "/v1/sandboxes/$fid:statFile?path=$p4096")
expect "path of 4096 bytes" "$(err_reason "$out")" CWSANDBOX_NAME_TOO_LONG
p4095=${p4096%e}
out=$(api GET "/v1/sandboxes/$fid:statFile?path=$p4095")
expect "path of 4095 bytes: just missing" "$(err_reason "$out")" CWSANDBOX_FILE_NOT_FOUND

# ---- 5. command size: every size around the runtime's cap is a 200 or a 400
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
for i, total in enumerate(range(130900, 131200, 20)):
    # argv ["sh", "-c", ": XXXX"] sized so argv bytes with NULs ~ total minus the env
    body = {"command": ["true", "x" * (total - 6000)], "env": {"PAD": "y" * 5800}}
    json.dump(body, open(f"{t}/big{i}.json", "w"))
    json.dump({"command": body["command"], "env": body["env"]}, open(f"{t}/bigexec{i}.json", "w"))
PY
for f in "$T"/big[0-9]*.json; do
	c=$(api_status POST /v1/sandboxes/"$fid"/processes --data-binary @"$f")
	[ "$c" = 200 ] || [ "$c" = 400 ] || fail "start with $(wc -c <"$f") bytes: HTTP $c"
	e=$(api_status POST /v1/sandboxes/"$fid":exec --data-binary @"${f/big/bigexec}")
	[ "$e" = 200 ] || [ "$e" = 400 ] || fail "exec with $(wc -c <"$f") bytes: HTTP $e"
done
python3 -c 'import json; print(json.dumps({"command": ["true", "x" * 131000]}))' >"$T/huge.json"
out=$(api POST /v1/sandboxes/"$fid":exec --data-binary @"$T/huge.json")
expect "huge exec refused" "$(jget "$out" '(j["code"], "too large" in j["message"])')" "(3, True)"
python3 -c 'import json; print(json.dumps({"command": ["sh", "-c", "exit 3", "x" * 120000]}))' >"$T/ok.json"
sbx_body env=PAD="$(printf 'y%.0s' $(seq 60000))" -- true "$(printf 'x%.0s' $(seq 100000))" >"$T/bigspec.json"
out=$(api POST /v1/sandboxes --data-binary @"$T/bigspec.json")
expect "huge main command refused" "$(jget "$out" '(j["code"], "too large" in j["message"])')" "(3, True)"
expect "big but fine" "$(jget "$(api POST /v1/sandboxes/"$fid":exec --data-binary @"$T/ok.json")" 'j["exitCode"]')" 3

# ---- 3. exit codes of stopped sandboxes
a=$(create "$(sbx_body -- sleep 60)")
api DELETE "/v1/sandboxes/$a?gracePeriodSeconds=5" >/dev/null
wait_state "$a" STATE_TERMINATED 10
expect "stopped main: 143" "$(ec_of "$a")" 143
b=$(create "$(sbx_body -- sh -c 'trap "" TERM; sleep 60 & wait; sleep 60')")
sleep 0.2
api DELETE "/v1/sandboxes/$b?gracePeriodSeconds=1" >/dev/null
wait_state "$b" STATE_TERMINATED 10
expect "main killed after grace: 137" "$(ec_of "$b")" 137
c=$(create "$(sbx_body)")
api DELETE "/v1/sandboxes/$c?gracePeriodSeconds=5" >/dev/null
wait_state "$c" STATE_TERMINATED 10
expect "idle stopped: 143" "$(ec_of "$c")" 143
d=$(create "$(sbx_body)")
api DELETE "/v1/sandboxes/$d?gracePeriodSeconds=0" >/dev/null
expect "idle stopped without grace: 137" "$(ec_of "$d")" 137
e=$(create "$(sbx_body lifetime=1 -- sleep 60)")
wait_state "$e" STATE_TERMINATED 10
expect "lifetime: 143" "$(ec_of "$e")" 143
expect "lifetime reason" "$(jget "$(api GET "/v1/sandboxes/$e")" '"maxLifetimeSeconds" in j["status"].get("stateReason", "")')" true
g=$(create "$(sbx_body -- sh -c 'exit 4')")
wait_state "$g" STATE_COMPLETED 10
expect "completed keeps its code" "$(ec_of "$g")" 4

# ---- 2. purge
p=$(create "$(sbx_body name=pp -- sh -c 'echo hi; sleep 60')")
[ -d "$STATE/sandboxes/$p" ] || fail "no state dir for $p"
# a reader parked on the output, and one waiting on the sandbox
api GET "/v1/sandboxes/$p/stdout?offset=3&waitSeconds=30" >"$T/parked.out" 2>&1 &
r1=$!
api GET "/v1/sandboxes/$p:wait?waitSeconds=30" >"$T/parked2.out" 2>&1 &
r2=$!
sleep 0.3
del=$(api POST "/v1/sandboxes/$p:forget?gracePeriodSeconds=5")
expect "purge answers the sandbox" "$(jget "$del" 'j["sandbox"]["sandboxId"]')" "$p"
wait $r1 $r2 || true
expect "gone" "$(api_status GET "/v1/sandboxes/$p")" 404
expect "gone by name" "$(sbx_id pp)" ""
expect "not listed" "$(jget "$(api GET '/v1/sandboxes?showTerminated=true&pageSize=1000')" "[s for s in j['sandboxes'] if s['sandboxId'] == '$p']")" "[]"
[ ! -e "$STATE/sandboxes/$p" ] || fail "state dir of $p left behind"
expect "name free again" "$(create "$(sbx_body name=pp)" >/dev/null; state_of "$(sbx_id pp)")" STATE_RUNNING
# purge of an already terminal sandbox removes it at once
expect "terminal purge" "$(jget "$(api POST "/v1/sandboxes/$g:forget")" 'j["sandbox"]["status"]["state"]')" STATE_COMPLETED
expect "terminal purge gone" "$(api_status GET "/v1/sandboxes/$g")" 404
[ ! -e "$STATE/sandboxes/$g" ] || fail "state dir of $g left behind"
# a plain DELETE keeps the record
expect "plain delete keeps" "$(state_of "$a")" STATE_TERMINATED
# purge with no grace while many readers wait: none crashes sbxd
q=$(create "$(sbx_body -- sh -c 'while :; do echo tick; sleep 0.01; done')")
pids=
for i in $(seq 1 8); do
	api GET "/v1/sandboxes/$q/stdout?offset=$((i * 100000))&waitSeconds=20" >/dev/null 2>&1 &
	pids="$pids $!"
done
exec_st="$T/exec.status"
api_status POST "/v1/sandboxes/$q:exec" -d '{"command":["sleep","30"]}' >"$exec_st" &
pids="$pids $!"
api_status GET "/v1/sandboxes/$q:readFile?path=/etc/hostname" >/dev/null &
pids="$pids $!"
sleep 0.3
api POST "/v1/sandboxes/$q:forget?gracePeriodSeconds=0" >/dev/null
for x in $pids; do wait "$x" || true; done
expect "purged q" "$(api_status GET "/v1/sandboxes/$q")" 404
case $(cat "$exec_st") in 200|404) ;; *) fail "exec in flight during a purge: HTTP $(cat "$exec_st")" ;; esac
kill -0 "$SBXD_PID" || fail "sbxd died"
# purge is remembered across a restart
r=$(create "$(sbx_body -- sh -c 'trap "" TERM; sleep 60 & wait; sleep 60')")
sleep 0.2
api POST "/v1/sandboxes/$r:forget?gracePeriodSeconds=30" >/dev/null
expect "purge waits for the end" "$(state_of "$r")" STATE_TERMINATING
stop_sbxd
start_sbxd
expect "purged at restart" "$(api_status GET "/v1/sandboxes/$r")" 404
[ ! -e "$STATE/sandboxes/$r" ] || fail "state dir of $r left behind after restart"
expect "stopped record survives" "$(ec_of "$a")" 143
note "additions ok"
