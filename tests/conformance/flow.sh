#!/usr/bin/env bash
# The representative flow of the conformance run (scripts/conformance):
# drives sbxd through the recorder (lib.sh's SBX_RECORD) three ways, so the
# log holds what libsbx sends with and without the extension and what the
# managed service's clients send, with every answer sbxd gives:
#   1. an sbxfs mount on sbxd (extension announced): creates with and
#      without a command, list, info, exec, files/, stop, delete;
#   2. an sbxfs mount on the strict fake of the managed service
#      (tests/conformance/fake.py: the real surface only), so libsbx's
#      fallback: create, returncode, exec, readFile, writeFile;
#   3. curl with the bodies the official SDK sends: create (the issue's
#      body), get, list by tags, exec, writeFile, readFile, delete, purge,
#      and errors (an unknown sandbox, an unknown field, a missing file).
# This script only records; it fails only when the flow itself breaks or
# the fake found an answer of sbxd's off the schema (the fake answered 500,
# which the log alone would not tell). wirecheck.py judges the log afterwards.
# Needs: SBXD, SBXFS, TESTS_DIR; CONFORMANCE_LOG (the log to append to).
: "${CONFORMANCE_LOG:?CONFORMANCE_LOG must name the exchange log}"
export SBX_RECORD=$CONFORMANCE_LOG
. "$TESTS_DIR/fs/common.sh"
command -v python3 >/dev/null || skip "no python3 for the proxies"

b64() { printf '%s' "$1" | base64 -w0; }
# curl through the recorder, answer body on stdout; -H hints for the checker.
call() { api "$@" -H 'Content-Type: application/json'; echo; }
bad() { local f=$1; shift; api "$@" -H 'Content-Type: application/json' -H 'X-Conformance-Expect: bad' \
	${f:+-H "X-Conformance-Field: $f"}; echo; }
id_of() { sed -n 's/.*"sandboxId":"\([^"]*\)".*/\1/p' | head -1; }

up
note "1. sbxfs with the extension"
mkdir "$MNT/idle"
eq "$(cat "$MNT/idle/status")" running "idle status"
box=$(new_box 'echo hi; echo err >&2; exit 3')
eq "$(timeout 30 cat "$MNT/$box/returncode")" 3 "main command's returncode"
eq "$(cat "$MNT/$box/stdout")" hi "main command's stdout"
cat "$MNT/idle/info" >/dev/null
ls "$MNT" >/dev/null
p=$(start_proc idle 'echo out; echo e >&2')
eq "$(timeout 30 cat "$MNT/idle/exec/$p/returncode")" 0 "exec returncode"
eq "$(cat "$MNT/idle/exec/$p/stdout")" out "exec stdout"
echo data >"$MNT/idle/files/tmp/f"
eq "$(cat "$MNT/idle/files/tmp/f")" data "files/ round trip"
ls "$MNT/idle/files/tmp" >/dev/null
echo stop >"$MNT/$box/ctl"
rmdir "$MNT/idle"

note "2. sbxfs through a service without the extension"
PSOCK=$T/public.sock RSOCK=$T/public-rec.sock MNT2=$T/mnt2
/usr/bin/python3 "$TESTS_DIR/conformance/fake.py" "$PSOCK" "$_SBXD_SOCK" 2>"$T/proxy.log" &
PROXY=$!
/usr/bin/python3 "$TESTS_DIR/conformance/recorder.py" "$RSOCK" "$PSOCK" "$CONFORMANCE_LOG" fallback \
	2>>"$T/recorder.log" &
REC2=$!
FS2=
# lib.sh's errexit holds in traps too: every step here may fail quietly.
_flow_cleanup() {
	local rc=$?
	set +e
	if [ -n "$FS2" ]; then
		fusermount3 -u "$MNT2" 2>/dev/null || fusermount3 -u -z "$MNT2" 2>/dev/null
		kill "$FS2" 2>/dev/null
		wait "$FS2" 2>/dev/null
	fi
	kill "$PROXY" "$REC2" 2>/dev/null
	wait "$PROXY" "$REC2" 2>/dev/null
	(exit "$rc")
	_cleanup
}
trap _flow_cleanup EXIT
wait_for 10 test -S "$PSOCK"
wait_for 10 test -S "$RSOCK"
mkdir -p "$MNT2"
"$SBXFS" "$MNT2" -f -o "url=unix:$RSOCK" >>"$T/sbxfs.log" 2>&1 &
FS2=$!
wait_for 10 mountpoint -q "$MNT2"
fbox=$(MNT=$MNT2 new_box 'echo fallback')
eq "$(timeout 30 cat "$MNT2/$fbox/returncode")" 0 "fallback main returncode"
mkdir "$MNT2/pub"
p=$(MNT=$MNT2 start_proc pub 'echo via; exit 4')
eq "$(timeout 30 cat "$MNT2/pub/exec/$p/returncode")" 4 "fallback exec returncode"
eq "$(cat "$MNT2/pub/exec/$p/stdout")" via "fallback exec stdout"
grep -q root "$MNT2/pub/files/etc/passwd" || fail "fallback readFile"
echo w >"$MNT2/pub/files/tmp/w" || fail "fallback writeFile"
echo x >>"$MNT2/pub/files/tmp/w" || fail "fallback append (read-modify-write)"
eq "$(cat "$MNT2/pub/files/tmp/w")" "$(printf 'w\nx')" "fallback files/ round trip"
rmdir "$MNT2/pub"
if grep "OFF-SCHEMA ANSWER" "$T/proxy.log" >&2; then fail "sbxd answered the fake off the schema (above)"; fi

note "3. the managed service's clients (curl, the SDK's bodies)"
sdk='{"spec":{"containers":[{"name":"main","image":"python:3.11","command":"/bin/sh","args":["-c","echo hi"]}],"primaryContainer":"main","tags":["team-a"]}}'
call POST '/v1/sandboxes?requestId=conf-1' -d "$sdk" >/dev/null
live='{"spec":{"containers":[{"name":"main","image":"default","command":"sleep","args":["300"]}],"tags":["team-a","conf"]}}'
sid=$(call POST /v1/sandboxes -d "$live" | id_of)
[ -n "$sid" ] || fail "create answered no sandboxId"
call GET "/v1/sandboxes/$sid" >/dev/null
call GET '/v1/sandboxes?tags=team-a&tags=conf' >/dev/null
call GET '/v1/sandboxes?showTerminated=true&pageSize=10' >/dev/null
call POST "/v1/sandboxes/$sid:exec" -d "{\"sandboxId\":\"$sid\",\"command\":[\"/bin/sh\",\"-c\",\"echo hi; exit 2\"],\"maxOutputBytes\":1024}" >/dev/null
call POST "/v1/sandboxes/$sid:writeFile" -d "{\"sandboxId\":\"$sid\",\"path\":\"/tmp/c\",\"content\":\"$(b64 hello)\"}" >/dev/null
call GET "/v1/sandboxes/$sid:readFile?path=/tmp/c" >/dev/null
call GET "/v1/sandboxes/$sid:readFile?path=/no/such/file" >/dev/null
call GET /v1/sandboxes/sbx-0000000000000000 >/dev/null
call POST /v1/sandboxes/sbx-0000000000000000:exec -d '{"sandboxId":"sbx-0000000000000000","command":["true"]}' >/dev/null
bad bogusField POST /v1/sandboxes -d '{"spec":{"containers":[{"name":"main","image":"default"}]},"bogusField":1}' >/dev/null
api POST /v1/sandboxes -H 'Content-Type: application/json' -H 'X-Conformance-Unsupported: gpu' -d '{"spec":{"containers":[{"name":"main","image":"default","resources":{"gpu":{"count":"1","type":"H100"}}}]}}' >/dev/null
call DELETE "/v1/sandboxes/$sid?gracePeriodSeconds=1" >/dev/null
call POST /v1/sandboxes:purge -d '{"tags":["team-a"]}' >/dev/null
echo ok
