#!/bin/bash
# The binary encoding of the extension's calls (docs/api.md, "Encodings"):
# sbxd announces "protobuf"; an extension call answers
# application/x-protobuf only to a client whose Accept names it, and the
# bytes are the same message as its JSON answer (python3-protobuf judges,
# tests/server/pbtool.py); a binary body is read on the extension's body
# "*" rows, checked as strictly as JSON; errors stay JSON; the real API's
# routes answer JSON, byte for byte the same, whatever the client asks.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
PB=application/x-protobuf
pbtool() { /usr/bin/python3 "$TESTS_DIR/server/pbtool.py" "$@"; }
pbtool encode GET /v1/extensions '{}' >/dev/null || skip "no protoc or python3-protobuf for the judge"
start_sbxd

ctype() { tr -d '\r' <"$1" | awk -F': ' 'tolower($1)=="content-type"{print $2}'; }
# get METHOD PATH OUT [curl args]: the answer's body in OUT, headers in OUT.h
get() {
	local m=$1 p=$2 o=$3
	shift 3
	api "$m" "$p" -D "$o.h" -o "$o" "$@"
}

get GET /v1/extensions "$T/ext"
jget "$(cat "$T/ext")" '"protobuf" in j["extensions"]' | grep -qx true || fail "protobuf not announced: $(cat "$T/ext")"

id=$(create "$(sbx_body name=enc)")
wait_state "$id" STATE_RUNNING 30
S=/v1/sandboxes/$id
# (no symlink: listing one reads it, which moves its atime between calls)
exec_sh "$id" 'mkdir -p /tmp/d/sub && echo hi > /tmp/d/a && : > /tmp/d/sub/x' >/dev/null
api POST "$S/processes" -d '{"command":["sleep","60"],"env":{"K":"V"},"workingDir":"/tmp"}' >/dev/null

# Reads: JSON by default and with Accept: application/json; binary when asked
for call in "GET $S:statFile?path=/tmp/d/a" "GET $S:listDir?path=/tmp/d" "GET $S/processes" "GET $S:wait?waitSeconds=0"; do
	set -- $call
	get "$1" "$2" "$T/j"
	expect "$2: default Content-Type" "$(ctype "$T/j.h")" application/json
	get "$1" "$2" "$T/j2" -H 'Accept: application/json'
	cmp -s "$T/j" "$T/j2" || fail "$2: Accept: application/json answers differently: $(diff "$T/j" "$T/j2")"
	get "$1" "$2" "$T/b" -H "Accept: $PB"
	expect "$2: binary Content-Type" "$(ctype "$T/b.h")" "$PB"
	pbtool same "$1" "$2" "$T/j" "$T/b" || fail "$2: the binary answer is not the JSON one's message"
	# q=0 is a refusal; a list that names it counts
	get "$1" "$2" "$T/q" -H "Accept: $PB;q=0, application/json"
	expect "$2: q=0" "$(ctype "$T/q.h")" application/json
	get "$1" "$2" "$T/l" -H "Accept: application/json;q=0.5, $PB"
	expect "$2: in a list" "$(ctype "$T/l.h")" "$PB"
done

# A binary body (listDirs), answered in binary: the same as the JSON call
body='{"path":"/tmp/d","morePaths":["/tmp/d/sub"]}'
# (the first listing of sub moves its atime, relatime: not the later ones)
get POST "$S:listDirs" "$T/j" -H 'Content-Type: application/json' -d "$body"
get POST "$S:listDirs" "$T/j" -H 'Content-Type: application/json' -d "$body"
pbtool encode POST "$S:listDirs" "$body" >"$T/req.bin"
get POST "$S:listDirs" "$T/b" -H "Content-Type: $PB" -H "Accept: $PB" --data-binary @"$T/req.bin"
expect "listDirs binary" "$(ctype "$T/b.h")" "$PB"
pbtool same POST "$S:listDirs" "$T/j" "$T/b" || fail "listDirs: binary in and out differs from JSON"
jget "$(cat "$T/j")" 'len(j["listings"])' | grep -qx 2 || fail "listDirs did not list both: $(cat "$T/j")"
# binary in, JSON out (no Accept): the same answer as all-JSON
get POST "$S:listDirs" "$T/j3" -H "Content-Type: $PB" --data-binary @"$T/req.bin"
cmp -s "$T/j" "$T/j3" || fail "listDirs: a binary request answers differently in JSON"
# a write in binary: makeDir, then seen inside
pbtool encode POST "$S:makeDir" '{"path":"/tmp/d/made"}' >"$T/mk.bin"
get POST "$S:makeDir" "$T/mk" -H "Content-Type: $PB" --data-binary @"$T/mk.bin"
expect "makeDir in binary" "$(cat "$T/mk")" "{}"
expect "made inside" "$(exec_sh "$id" 'test -d /tmp/d/made && echo yes')" yes

# A bad binary body: 400 INVALID_ARGUMENT naming the field, in JSON
printf '\x12\x06/tmp/\x00' >"$T/nul.bin"
get POST "$S:listDirs" "$T/e" -H "Content-Type: $PB" -H "Accept: $PB" --data-binary @"$T/nul.bin"
expect "NUL: error in JSON" "$(ctype "$T/e.h")" application/json
expect "NUL: code" "$(jget "$(cat "$T/e")" 'j["code"]')" 3
jget "$(cat "$T/e")" '[v["field"] for d in j["details"] for v in d.get("fieldViolations", [])]' | grep -q "'path'" ||
	fail "NUL: the field is not named: $(cat "$T/e")"
printf '\x98\x06\x01' >"$T/unk.bin"
expect "unknown field" "$(api_status POST "$S:listDirs" -H "Content-Type: $PB" --data-binary @"$T/unk.bin")" 400
printf '\x12\x09/tmp' >"$T/cut.bin"
expect "cut short" "$(api_status POST "$S:listDirs" -H "Content-Type: $PB" --data-binary @"$T/cut.bin")" 400
# an error of an extension call asked in binary stays JSON
get GET "$S:statFile?path=/nonexistent" "$T/e" -H "Accept: $PB"
expect "not found: status" "$(jget "$(cat "$T/e")" 'j["code"]')" 5
expect "not found: JSON" "$(ctype "$T/e.h")" application/json

# The real API: JSON whatever is asked, byte for byte (the time fields of
# a running sandbox do not move between two GETs)
for p in "$S" "/v1/sandboxes"; do
	get GET "$p" "$T/r1"
	get GET "$p" "$T/r2" -H "Accept: $PB"
	expect "$p: real route in JSON" "$(ctype "$T/r2.h")" application/json
	cmp -s "$T/r1" "$T/r2" || fail "$p: the real route's answer moved with Accept"
done
# and a binary body on a real route is not read as binary: 400 (not JSON)
pbtool encode POST "$S:listDirs" '{"path":"/tmp"}' >"$T/real.bin"
expect "real route, binary body" \
	"$(api_status POST "$S:exec" -H "Content-Type: $PB" --data-binary @"$T/real.bin")" 400
note "binary where asked on the extension, JSON elsewhere"
