#!/bin/bash
# sbxd's sandbox calls as the managed service's schema defines them (issue
# 10): the official SDK's create body runs its command to completion and
# GetSandbox shows the exit code; the same body with one unknown field is a
# 400 naming it; what sbxd cannot honour is a 501 (or 400) naming the field;
# answers are canonical (no zero values, exitCode only once observed);
# list by repeated tags, paging; delete (immediate without a grace,
# allowMissing), purge, the extension's :wait and :forget, discovery, the
# schema's RPCs sbxd lacks (501), unmatched paths (404/5), and
# sbxd --no-extension serving the real surface alone.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

# status_of OUT: HTTP status of an api call made with -w '\n%{http_code}'
st() { printf '%s\n' "$1" | tail -n 1; }
bd() { printf '%s\n' "$1" | sed '$d'; }
# field OUT: the BadRequest field of an error body
field() { jget "$1" '[v["field"] for d in j.get("details", []) if d["@type"].endswith("BadRequest") for v in d["fieldViolations"]]'; }

# The issue's body byte for byte (python:3.11: the default image, which
# holds Python 3.11, serves it; see below)
SDK='{"spec":{"containers":[{"name":"main","image":"python:3.11","command":"/bin/sh","args":["-c","echo hi"]}],"primaryContainer":"main","tags":["team-a"]}}'
out=$(api POST /v1/sandboxes -d "$SDK" -w '\n%{http_code}')
expect "SDK body accepted" "$(st "$out")" 200
sb=$(bd "$out")
id=$(jget "$sb" 'j["sandboxId"]')
expect "spec echoed as asked" "$(jget "$sb" 'json.dumps(j["spec"], separators=(",", ":"))')" \
	'{"containers":[{"name":"main","image":"python:3.11","command":"/bin/sh","args":["-c","echo hi"]}],"primaryContainer":"main","tags":["team-a"]}'
wait_state "$id" STATE_COMPLETED 20
g=$(api GET "/v1/sandboxes/$id")
expect "GetSandbox: exit code" "$(jget "$g" 'j["status"]["exitCode"]')" 0
expect "GetSandbox: exit code written although 0" "$(jget "$g" '"exitCode" in j["status"]')" true
expect "no zero values" "$(jget "$g" 'sorted(j["status"])')" \
	"['createTime', 'effectiveMaxLifetimeSeconds', 'endTime', 'exitCode', 'startTime', 'state']"
expect "echo hi ran" "$(api GET "/v1/sandboxes/$id/stdout")" hi

# the same body with one unknown field: 400 naming it; nothing made
bad=${SDK/\"args\"/\"bogus\":1,\"args\"}
out=$(api POST /v1/sandboxes -d "$bad" -w '\n%{http_code}' -H 'X-Conformance-Expect: bad' -H 'X-Conformance-Field: spec.containers[0].bogus')
expect "unknown field status" "$(st "$out")" 400
expect "unknown field named" "$(field "$(bd "$out")")" "['spec.containers[0].bogus']"
expect "unknown field code" "$(jget "$(bd "$out")" '(j["code"], j["details"][0]["reason"], j["details"][0]["domain"])')" \
	"(3, 'CWSANDBOX_INVALID_REQUEST', 'cwsandbox.com')"
expect "nothing made" "$(jget "$(api GET '/v1/sandboxes?showTerminated=true')" 'len(j["sandboxes"])')" 1

# cannot honour: 501 (a feature sbxd lacks) or 400 (a value it cannot take)
refused() { # WANT_HTTP FIELD BODY (marked for the conformance recorder)
	local o h=(-H "X-Conformance-Unsupported: $2")
	[ "$1" = 400 ] && h=(-H 'X-Conformance-Expect: bad' -H "X-Conformance-Field: $2")
	o=$(api POST /v1/sandboxes -d "$3" -w '\n%{http_code}' "${h[@]}")
	expect "$2: status" "$(st "$o")" "$1"
	expect "$2: named" "$(field "$(bd "$o")")" "['$2']"
}
refused 501 spec.containers[0].resources.gpu "$(sbx_body 'extra={"resources":{"gpu":{"count":"1"}}}')"
refused 501 spec.containers[0].securityContext "$(sbx_body 'extra={"securityContext":{"privileged":true}}')"
refused 501 spec.containers "$(python3 -c 'import json; c = {"name": "a", "image": "default"}; print(json.dumps({"spec": {"containers": [c, dict(c, name="b")]}}))')"
refused 501 spec.volumes[0].volumeId '{"spec":{"containers":[{"name":"main","image":"default"}],"volumes":[{"name":"v","volumeId":"vol-1"}]}}'
refused 501 spec.mode '{"spec":{"containers":[{"name":"main","image":"default"}],"mode":"SANDBOX_MODE_CKS"}}'
refused 400 spec.containers '{"spec":{"containers":[]}}'
refused 400 spec.containers[0].image '{"spec":{"containers":[{"name":"main","image":""}]}}'
refused 400 spec.containers[0].image "$(sbx_body image=no-such-image)"
refused 400 spec.primaryContainer '{"spec":{"containers":[{"name":"main","image":"default"}],"primaryContainer":"x"}}'
refused 400 spec.maxLifetimeSeconds "$(sbx_body lifetime=2592001)"
refused 400 spec.annotations.sbxd.pids "$(sbx_body pids=lots)"
refused 400 sandboxId '{"sandboxId":"mine","spec":{"containers":[{"name":"main","image":"default"}]}}'
out=$(api POST '/v1/sandboxes?bogus=1' -d "$(sbx_body)" -w '\n%{http_code}')
expect "unknown query parameter" "$(st "$out") $(field "$(bd "$out")")" "400 ['bogus']"

# sbxd's extras where the schema allows them: the pids annotation (limits
# holds a fork bomb to it), the name tag
p=$(create "$(sbx_body name=pp pids=32 ann=note=x)")
expect "annotations echoed" "$(jget "$(api GET "/v1/sandboxes/$p")" 'j["spec"]["annotations"]')" "{'sbxd.pids': '32', 'note': 'x'}"
out=$(api POST /v1/sandboxes -d "$(sbx_body name=pp)" -w '\n%{http_code}')
expect "name in use" "$(st "$out") $(jget "$(bd "$out")" 'j["code"]') $(field "$(bd "$out")")" "409 6 ['spec.tags']"
expect "name by tag" "$(sbx_id pp)" "$p"
expect "names are not ids" "$(api_status GET /v1/sandboxes/pp)" 404

# requestId in the query: the same sandbox again
r1=$(create "$(sbx_body tag=rq)" '?requestId=req-9')
r2=$(create "$(sbx_body tag=rq)" '?requestId=req-9')
expect "requestId idempotent" "$r1" "$r2"

# list: repeated tags are ANDed, a comma is part of a tag, paging
for i in 1 2 3; do create "$(sbx_body tag=pg tag=a,b)" >/dev/null; done
expect "AND of tags" "$(jget "$(api GET '/v1/sandboxes?tags=pg&tags=a,b')" 'len(j["sandboxes"])')" 3
expect "AND of tags, one missing" "$(jget "$(api GET '/v1/sandboxes?tags=pg&tags=a')" 'len(j.get("sandboxes", []))')" 0
expect "comma kept" "$(jget "$(api GET '/v1/sandboxes?tags=a%2Cb')" 'len(j["sandboxes"])')" 3
l=$(api GET '/v1/sandboxes?tags=pg&pageSize=2')
tok=$(jget "$l" 'j["nextPageToken"]')
expect "page 1" "$(jget "$l" 'len(j["sandboxes"])')" 2
l=$(api GET "/v1/sandboxes?tags=pg&pageSize=2&pageToken=$tok")
expect "page 2, last" "$(jget "$l" '(len(j["sandboxes"]), "nextPageToken" in j)')" "(1, False)"
expect "empty list is {}" "$(api GET '/v1/sandboxes?tags=none-such')" "{}"
expect "bad state" "$(api_status GET '/v1/sandboxes?state=STATE_BOGUS')" 400
expect "state filter" "$(jget "$(api GET '/v1/sandboxes?state=STATE_COMPLETED')" '[s["sandboxId"] for s in j["sandboxes"]]')" "['$id']"

# :wait (extension) answers when terminal, or at the deadline
w=$(create "$(sbx_body -- sh -c 'sleep 1; exit 7')")
t0=$SECONDS
ws=$(api GET "/v1/sandboxes/$w:wait?waitSeconds=20")
expect ":wait terminal" "$(jget "$ws" '(j["status"]["state"], j["status"]["exitCode"])')" "('STATE_COMPLETED', 7)"
[ $((SECONDS - t0)) -lt 10 ] || fail ":wait took $((SECONDS - t0)) s"
expect ":wait deadline" "$(jget "$(api GET "/v1/sandboxes/$p:wait?waitSeconds=1")" 'j["status"]["state"]')" STATE_RUNNING
expect "GetSandbox takes no waitSeconds" "$(api_status GET "/v1/sandboxes/$p?waitSeconds=1")" 400

# delete: no grace = immediate; allowMissing; snapshotVolumes of no volume
d=$(api DELETE "/v1/sandboxes/$p")
expect "delete: immediate" "$(jget "$d" '(j["sandbox"]["status"]["state"], "fileSystemSnapshotIds" in j)')" "('STATE_TERMINATED', False)"
expect "delete: allowMissing" "$(api DELETE '/v1/sandboxes/sbx-none?allowMissing=true')" "{}"
expect "delete: missing" "$(api_status DELETE '/v1/sandboxes/sbx-none')" 404
expect "delete: snapshotVolumes of a volume it has not" "$(api_status DELETE "/v1/sandboxes/$w?snapshotVolumes=v")" 400
expect "the old ?purge=true is gone" "$(api_status DELETE "/v1/sandboxes/$w?purge=true")" 400

# purge: tags or purgeAll, dryRun counts
expect "purge needs tags" "$(api_status POST /v1/sandboxes:purge -d '{}')" 400
expect "purge dry run" "$(api POST /v1/sandboxes:purge -d '{"tags":["pg"],"dryRun":true}')" '{"purgeCount":3}'
expect "purge" "$(api POST /v1/sandboxes:purge -d '{"tags":["pg"]}')" '{"purgeCount":3}'
expect "purged ones stopped" "$(jget "$(api GET '/v1/sandboxes?tags=pg')" 'len(j.get("sandboxes", []))')" 0
expect "purge requestId" "$(api_status POST /v1/sandboxes:purge -d '{"tags":["pg"],"requestId":"x"}')" 501

# :forget (extension): stop, then the record goes
f=$(create "$(sbx_body -- sleep 60)")
fo=$(api POST "/v1/sandboxes/$f:forget")
expect ":forget answers the sandbox" "$(jget "$fo" 'j["sandbox"]["sandboxId"]')" "$f"
expect ":forget: gone" "$(api_status GET "/v1/sandboxes/$f")" 404
expect ":forget: not listed" "$(jget "$(api GET '/v1/sandboxes?showTerminated=true')" "[s for s in j['sandboxes'] if s['sandboxId'] == '$f']")" "[]"

# discovery, RPCs of the schema sbxd lacks, unmatched paths
expect "discovery" "$(jget "$(api GET /v1/extensions)" '("wait" in j["extensions"], "forget" in j["extensions"], j["server"].startswith("sbxd/"))')" "(True, True, True)"
out=$(api POST /v1/sandboxes:createFromTemplate -d '{"templateId":"t"}' -w '\n%{http_code}')
expect "createFromTemplate" "$(st "$out") $(jget "$(bd "$out")" '(j["code"], j["details"][0]["reason"])')" "501 (12, 'CWSANDBOX_NOT_IMPLEMENTED')"
expect "snapshots (test snapshots)" "$(api GET /v1/fileSystemSnapshots)" "{}"
out=$(api GET /v1/nothing -w '\n%{http_code}')
expect "unmatched path" "$(st "$out") $(jget "$(bd "$out")" '(j["code"], "details" in j)')" "404 (5, False)"
stop_sbxd

# sbxd --no-extension: the real surface alone
start_sbxd --no-extension
expect "no discovery" "$(api_status GET /v1/extensions)" 404
n=$(create "$(sbx_body -- sh -c 'echo plain')")
wait_state "$n" STATE_COMPLETED 20
expect "real calls work" "$(jget "$(api GET "/v1/sandboxes/$n")" 'j["status"]["exitCode"]')" 0
for path in "/v1/sandboxes/$n:wait" "/v1/sandboxes/$n/stdout" "/v1/sandboxes/$n/processes" "/v1/sandboxes/$n:listDir?path=/" /v1/images; do
	out=$(api GET "$path" -w '\n%{http_code}')
	expect "no extension: $path" "$(st "$out") $(jget "$(bd "$out")" 'j["code"]')" "404 5"
done
expect "no :forget" "$(api_status POST "/v1/sandboxes/$n:forget")" 404
stop_sbxd

# The SDK's default image python:3.11 runs on the default image (it holds
# Python 3.11), reported as asked; other versions are not guessed, and
# --image-alias python:3.11= turns that off.
start_sbxd
p=$(create "$(sbx_body image=python:3.11 -- python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')")
wait_state "$p" STATE_COMPLETED 30
sb=$(api GET "/v1/sandboxes/$p")
expect "python:3.11 ran" "$(jget "$sb" '(j["status"].get("exitCode", 0), j["spec"]["containers"][0]["image"])')" "(0, 'python:3.11')"
expect "python:3.11 is 3.11" "$(api GET "/v1/sandboxes/$p/stdout")" 3.11
out=$(api POST /v1/sandboxes -d "$(sbx_body image=python:3.12 -- true)" -w '\n%{http_code}')
expect "python:3.12 not guessed" "$(st "$out") $(jget "$(bd "$out")" 'j["details"][-1]["fieldViolations"][0]["field"]')" "400 spec.containers[0].image"
stop_sbxd
start_sbxd --image-alias python:3.11=
expect "alias off" "$(api_status POST /v1/sandboxes -d "$(sbx_body image=python:3.11 -- true)")" 400
note "real surface ok"
