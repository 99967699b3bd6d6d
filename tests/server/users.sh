#!/usr/bin/env bash
# One sbxd for several local users (issue 16): the socket is opened to all
# (--socket-mode 0666), and two unprivileged uids that have no passwd entry
# (setpriv sets them, no account is made) drive the API with curl. Each
# sees and acts on only its own sandboxes; the other's are 404 NOT_FOUND,
# exactly as an id that never existed; root sees both. Ownership survives
# a restart of sbxd.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
command -v setpriv >/dev/null || skip "no setpriv"
U1=64001 U2=64002
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
# uapi UID METHOD PATH [curl args]: the API as that uid (body, then status)
uapi() {
	local u=$1 m=$2 p=$3; shift 3
	as "$u" curl -sS --max-time 70 --unix-socket "$SOCK" -X "$m" "http://sbxd$p" -w '\n%{http_code}' "$@"
}
body() { printf '%s\n' "$1" | sed '$d'; }
code() { printf '%s\n' "$1" | tail -n 1; }
# not_found UID METHOD PATH [curl args]: 404 SANDBOX_NOT_FOUND
not_found() {
	local r
	r=$(uapi "$@")
	expect "$2 $3 as $1: status" "$(code "$r")" 404
	expect "$2 $3 as $1: reason" "$(err_reason "$(body "$r")")" CWSANDBOX_SANDBOX_NOT_FOUND
}

chmod o+x "$T"
# Each user's sandboxes run under a range of that user's (a root sbxd
# refuses a user without one): from a file of the test's, /etc stays.
subids "$T/subid" $U1 $U2
start_sbxd --socket-mode 0666 --subuid "$T/subid" --subgid "$T/subid"
expect "socket mode" "$(stat -c %a "$SOCK")" 666
# The default stays owner only.
SOCK0=$T/def/sbxd.sock
"$SBXD" -f --socket "$SOCK0" --state-dir "$T/state0" >>"$T/sbxd0.log" 2>&1 &
P0=$!
wait_for 10 test -S "$SOCK0"
expect "default socket mode" "$(stat -c %a "$SOCK0")" 600
expect "default socket dir mode" "$(stat -c %a "$T/def")" 700
kill -TERM $P0; wait $P0 || true
# A group: its members get in, others do not (gid 64003 needs no entry).
SOCKG=$T/grp/sbxd.sock
"$SBXD" -f --socket "$SOCKG" --socket-mode 0660 --socket-group 64003 --state-dir "$T/stateg" >>"$T/sbxd0.log" 2>&1 &
P0=$!
wait_for 10 test -S "$SOCKG"
expect "group socket" "$(stat -c '%a %g' "$SOCKG")" "660 64003"
expect "group socket dir mode" "$(stat -c %a "$T/grp")" 755
gcurl() { setpriv --reuid="$1" --regid="$2" --clear-groups curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCKG" http://sbxd/v1/sandboxes; }
expect "a member connects" "$(gcurl $U1 64003)" 200
expect "a non-member cannot" "$(gcurl $U1 $U1 || true)" 000
kill -TERM $P0; wait $P0 || true
expect "bad mode refused" "$("$SBXD" --socket-mode 0999 --socket "$T/x.sock" >/dev/null 2>&1; echo $?)" 2
expect "bad group refused" "$("$SBXD" --socket-group no-such-group-sbx --socket "$T/x.sock" >/dev/null 2>&1; echo $?)" 2

# Each user makes one sandbox (the same name: names are per user).
mk() {
	local r
	r=$(uapi "$1" POST /v1/sandboxes -d "$(sbx_body name=mine -- /bin/sh -c "echo out-of-$1; sleep 300")")
	expect "create as $1" "$(code "$r")" 200
	jget "$(body "$r")" 'j["sandboxId"]'
}
id1=$(mk $U1)
id2=$(mk $U2)
[ "$id1" != "$id2" ] || fail "one sandbox for two users"
wait_state "$id1" STATE_RUNNING 30
wait_state "$id2" STATE_RUNNING 30

# Lists: each its own, root both.
ids() { jget "$(body "$(uapi "$1" GET /v1/sandboxes)")" '" ".join(s["sandboxId"] for s in j.get("sandboxes", []))'; }
expect "list of $U1" "$(ids $U1)" "$id1"
expect "list of $U2" "$(ids $U2)" "$id2"
rl=$(jget "$(api GET /v1/sandboxes)" 'sorted(s["sandboxId"] for s in j.get("sandboxes", []))')
expect "list of root" "$rl" "$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$id1" "$id2")"
# No owner in the API's answers.
api GET "/v1/sandboxes/$id1" | grep -q '"owner"' && fail "owner leaks into the API"

# Own sandbox: works by id; a name (the tag sbxfs-name=NAME) lists only
# the caller's own.
r=$(uapi $U1 GET "/v1/sandboxes/$id1")
expect "own get" "$(code "$r")" 200
named() { jget "$(body "$(uapi "$1" GET "/v1/sandboxes?tags=sbxfs-name%3Dmine")")" '" ".join(s["sandboxId"] for s in j.get("sandboxes", []))'; }
expect "own name means own sandbox" "$(named $U1)" "$id1"
expect "own name means own sandbox ($U2)" "$(named $U2)" "$id2"
r=$(uapi $U1 POST "/v1/sandboxes/$id1:exec" -d '{"command":["sh","-c","echo hi > /tmp/f; echo ran"]}')
expect "own exec" "$(b64d "$(jget "$(body "$r")" 'j["stdout"]')")" ran
for _ in $(seq 1 100); do
	[ "$(body "$(uapi $U1 GET "/v1/sandboxes/$id1/stdout")")" = "out-of-$U1" ] && break
	sleep 0.1
done
expect "own stdout" "$(body "$(uapi $U1 GET "/v1/sandboxes/$id1/stdout")")" "out-of-$U1"
r=$(uapi $U1 GET "/v1/sandboxes/$id1:readFile?path=/tmp/f")
expect "own readFile" "$(code "$r")" 200

# The other's sandbox: not found, by id or anything else, for every call.
for pair in "$U2 $id1" "$U1 $id2"; do
	# shellcheck disable=SC2086 # two words on purpose
	set -- $pair
	u=$1 other=$2
	not_found "$u" GET "/v1/sandboxes/$other"
	not_found "$u" GET "/v1/sandboxes/$other:wait?waitSeconds=1"
	not_found "$u" POST "/v1/sandboxes/$other:exec" -d '{"command":["touch","/tmp/pwned"]}'
	not_found "$u" GET "/v1/sandboxes/$other:readFile?path=/tmp/f"
	not_found "$u" POST "/v1/sandboxes/$other:writeFileAt?path=/tmp/pwned" -H "Content-Type: application/octet-stream" --data-binary x
	not_found "$u" GET "/v1/sandboxes/$other/stdout"
	not_found "$u" GET "/v1/sandboxes/$other/processes"
	not_found "$u" POST "/v1/sandboxes/$other/processes" -d '{"command":["touch","/tmp/pwned"]}'
	not_found "$u" DELETE "/v1/sandboxes/$other"
	# Exactly the answer for an id that never was (the id aside).
	a=$(body "$(uapi "$u" GET "/v1/sandboxes/$other")")
	b=$(body "$(uapi "$u" GET "/v1/sandboxes/sbx-never-was")")
	expect "other's = missing" "${a//$other/X}" "${b//sbx-never-was/X}"
	r=$(uapi "$u" DELETE "/v1/sandboxes/$other?allowMissing=true")
	expect "allowMissing delete of the other's" "$(code "$r")" 200
done
# None of that touched them.
expect "$id1 still running" "$(state_of "$id1")" STATE_RUNNING
expect "$id2 still running" "$(state_of "$id2")" STATE_RUNNING
expect "no pwned in $id1" "$(exec_sh "$id1" 'ls /tmp/pwned 2>&1 >/dev/null | wc -l')" 1
expect "no pwned in $id2" "$(exec_sh "$id2" 'ls /tmp/pwned 2>&1 >/dev/null | wc -l')" 1
# A requestId of another user's create is not theirs to reuse.
r1=$(uapi $U1 POST "/v1/sandboxes?requestId=same-req" -d "$(sbx_body)")
r2=$(uapi $U2 POST "/v1/sandboxes?requestId=same-req" -d "$(sbx_body)")
[ "$(jget "$(body "$r1")" 'j["sandboxId"]')" != "$(jget "$(body "$r2")" 'j["sandboxId"]')" ] ||
	fail "requestId handed $U2 the sandbox of $U1"

# Root acts on both; ownership survives a restart.
expect "root get" "$(api_status GET "/v1/sandboxes/$id1")" 200
stop_sbxd
start_sbxd --socket-mode 0666 --subuid "$T/subid" --subgid "$T/subid"
expect "list of $U1 after restart" "$(jget "$(body "$(uapi $U1 GET '/v1/sandboxes?showTerminated=true')")" '[s["sandboxId"] for s in j.get("sandboxes", [])][0]')" "$id1"
not_found $U2 GET "/v1/sandboxes/$id1"
expect "own get after restart" "$(code "$(uapi $U1 GET "/v1/sandboxes/$id1")")" 200
expect "own delete" "$(code "$(uapi $U1 POST "/v1/sandboxes/$id1:forget")")" 200
expect "root delete of a user's" "$(api_status POST "/v1/sandboxes/$id2:forget")" 200

# Without --subuid the ranges come from /etc/subuid and /etc/subgid, which
# may be missing or hold no line for a test uid: sbxd starts all the same,
# root's sandboxes run, a user's create is refused naming the file and the
# fix (never run as host root or as the user's own uid).
if ! grep -qs -e "^64001:" /etc/subuid /etc/subgid; then
	stop_sbxd
	start_sbxd --socket-mode 0666
	r=$(uapi $U1 POST /v1/sandboxes -d "$(sbx_body)")
	expect "create as $U1 without a range: status" "$(code "$r")" 400
	body "$r" | grep -q "no range for user 64001 (uid 64001).*/etc/subuid.*usermod --add-subuids" ||
		fail "create without a range: $(body "$r")"
	expect "root's create without any range" "$(api_status POST /v1/sandboxes -d "$(sbx_body)")" 200
else
	note "/etc/subuid has a range for 64001: the default-file refusal is not checked"
fi
note "users ok"
