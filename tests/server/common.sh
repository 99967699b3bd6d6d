# Helpers shared by sbxd's shell tests (sourced after tests/lib.sh).

# jget JSON PYEXPR: evaluates PYEXPR with j = the parsed JSON, prints it
# (True/False as true/false). name(S): the sbxfs name of Sandbox S (its
# tag sbxfs-name=NAME), "" when none.
jget() {
	python3 -c '
import json, sys
def name(s):
    return ([t[11:] for t in s.get("spec", {}).get("tags", []) if t.startswith("sbxfs-name=")] + [""])[0]
j = json.loads(sys.argv[1])
v = eval(sys.argv[2])
print(("true" if v else "false") if isinstance(v, bool) else v)' "$1" "$2"
}
b64d() { python3 -c 'import base64,sys; sys.stdout.write(base64.b64decode(sys.argv[1]).decode())' "$1"; }

# expect DESC GOT WANT
expect() {
	[ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
}

# create BODY [QUERY] -> prints the sandbox id (BODY: sbx_body's, QUERY
# e.g. "?requestId=r1")
create() {
	local out
	out=$(api POST "/v1/sandboxes${2:-}" -d "$1")
	jget "$out" 'j["sandboxId"]' 2>/dev/null || fail "create failed: $out"
}

# state ID -> STATE_...
state_of() { jget "$(api GET "/v1/sandboxes/$1")" 'j["status"]["state"]'; }

# wait_state ID STATE SECONDS
wait_state() {
	local id=$1 want=$2 t=${3:-10} end=$((SECONDS + ${3:-10})) s
	while :; do
		s=$(state_of "$id")
		[ "$s" = "$want" ] && return 0
		[ $SECONDS -lt $end ] || fail "sandbox $id is $s after ${t}s, want $want"
		sleep 0.05
	done
}

# exec_b64 ID ARGV_JSON -> full :exec answer
exec_json() { api POST "/v1/sandboxes/$1:exec" -d "{\"command\": $2}"; }
exec_out() { b64d "$(jget "$(exec_json "$1" "$2")" 'j.get("stdout", "")')"; }

# err_reason JSON -> ErrorInfo reason
err_reason() { jget "$1" '[d for d in j["details"] if "ErrorInfo" in d["@type"]][0]["reason"]'; }

# exec_sh ID SCRIPT -> stdout of sh -c SCRIPT (no JSON quoting by hand)
exec_sh() {
	local body
	body=$(python3 -c 'import json,sys; print(json.dumps({"command": ["sh", "-c", sys.argv[1]]}))' "$2")
	b64d "$(jget "$(api POST "/v1/sandboxes/$1:exec" -d "$body")" 'j.get("stdout", "")')"
}
