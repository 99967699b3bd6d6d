#!/usr/bin/env bash
# Lookups that do not grow with history (issue 14). Through a recording
# proxy (tests/conformance/recorder.py) the test sees every call sbxfs makes:
#  - a LOOKUP of exec/last finds the newest process with a few gets of one
#    process each, never the list of all processes;
#  - a name no cached sandbox has (mkdir's first lookup, or a sandbox made
#    by another client) is asked for by name and by its sbxfs-name tag,
#    never by listing every sandbox; and the answer is still right.
# Without the extension (the real surface: no process ids, no list) a
# command of another client is none of the mount's exec/N, and exec/last
# stays the mount's own newest.
outer_rec=${SBX_RECORD:-}
. "$TESTS_DIR/fs/common.sh"
# Its own log (the counts are this test's alone), appended to an outer
# conformance run's log at the end so its exchanges are judged too.
SBX_RECORD=$T/calls.jsonl
[ -z "$outer_rec" ] || trap 'record_append "$SBX_RECORD" "$outer_rec"; _cleanup' EXIT
_SBXD_SOCK=$T/sbxd-upstream.sock
up
calls_since() { # LINE -> "METHOD TARGET" of the calls recorded after line LINE
	tail -n +"$(($1 + 1))" "$SBX_RECORD" | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    print(r["method"], r["target"])'
}
mark() { wc -l <"$SBX_RECORD"; }

mkdir "$MNT/h"
for i in $(seq 1 40); do echo true >"$MNT/h/exec/new"; done
eq "$(cat "$MNT/h/exec/40/returncode")" 0 "returncode of the 40th"
sleep 1.2   # past the entry timeout and the 1 s freshness of exec/last
m=$(mark)
eq "$(readlink "$MNT/h/exec/last")" 40 "exec/last with 40 processes"
calls_since "$m" >"$T/last1"
if grep -E '^GET /v1/sandboxes/[^/]+/processes(\?|$)' "$T/last1"; then fail "exec/last listed every process"; fi
n=$(grep -cE '^GET /v1/sandboxes/[^/]+/processes/[0-9]+' "$T/last1" || true)
[ "$n" -le 4 ] || fail "exec/last took $n process gets: $(cat "$T/last1")"
hid=$(sed -n 's/.*"sandboxId": *"\([^"]*\)".*/\1/p' "$MNT/h/info" | head -1)
if sbx_extension_on; then
	# 25 more started elsewhere (through the API, so the mount has not
	# seen them): a gallop and a bisection, a dozen gets at most, not 65
	for i in $(seq 1 25); do
		api POST "/v1/sandboxes/$hid/processes" -d '{"command": ["true"]}' >/dev/null
	done
	sleep 1.2
	m=$(mark)
	eq "$(readlink "$MNT/h/exec/last")" 65 "exec/last after 25 processes started elsewhere"
	calls_since "$m" >"$T/last2"
	if grep -E '^GET /v1/sandboxes/[^/]+/processes(\?|$)' "$T/last2"; then fail "exec/last listed every process"; fi
	n=$(grep -cE '^GET /v1/sandboxes/[^/]+/processes/[0-9]+' "$T/last2" || true)
	[ "$n" -le 14 ] || fail "exec/last took $n process gets for 25 new ones"
else
	# The real surface has no process ids and no process list: a
	# command another client runs (the real Exec here) is no exec/N of
	# this mount, and exec/last stays its own newest, found without a call.
	for i in $(seq 1 3); do
		eq "$(api POST "/v1/sandboxes/$hid:exec" -d '{"command": ["true"]}' |
			python3 -c 'import json, sys; print(json.load(sys.stdin).get("exitCode", 0))')" 0 "an Exec by another client"
	done
	sleep 1.2
	m=$(mark)
	eq "$(readlink "$MNT/h/exec/last")" 40 "exec/last after commands of another client"
	[ ! -e "$MNT/h/exec/41" ] || fail "exec/41 exists: the other client's command got an id of this mount"
	calls_since "$m" >"$T/last2"
	if grep -E '^GET /v1/sandboxes/[^/]+/processes' "$T/last2"; then fail "exec/last called the extension"; fi
fi
eq "$(cat "$MNT/h/exec/last/returncode")" 0 "returncode through exec/last"

# names: a miss, a mkdir, a sandbox named by another client, one known
# only by its sbxfs-name tag
m=$(mark)
[ ! -e "$MNT/nobody" ] || fail "nobody exists"
mkdir "$MNT/fresh"
[ -d "$MNT/fresh/exec" ] || fail "fresh has no exec/"
api POST /v1/sandboxes -d "$(sbx_body name=other)" >/dev/null
api POST /v1/sandboxes -d "$(sbx_body tag=sbxfs-name=tagonly)" >/dev/null
[ -d "$MNT/other" ] || fail "a sandbox named by another client is not found"
[ -d "$MNT/tagonly" ] || fail "a sandbox with only the tag sbxfs-name=tagonly is not found"
calls_since "$m" >"$T/names"
if grep -E '^GET /v1/sandboxes(\?|$)' "$T/names" | grep -v 'tags=sbxfs-name'; then
	fail "a name lookup listed every sandbox"
fi
grep -qE '^GET /v1/sandboxes/nobody' "$T/names" || fail "the miss did not ask for the name: $(cat "$T/names")"
# and a listing still shows everything
ls "$MNT" >"$T/ls"
for d in h fresh other tagonly; do grep -qx "$d" "$T/ls" || fail "ls lacks $d: $(cat "$T/ls")"; done
echo ok
