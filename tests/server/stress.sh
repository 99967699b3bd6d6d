#!/bin/bash
# Concurrency: creates, deletes (also of sandboxes still being made),
# execs, long-polls and output reads all at once; sbxd keeps every record
# consistent, answers everything and logs no error.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

create "$(sbx_body name=busy)" >/dev/null
api POST /v1/sandboxes/"$(sbx_id busy)"/processes -d '{"command":["sh","-c","i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); sleep 0.01; done"]}' >/dev/null
# a reader following the stream the whole time
(
	off=0
	while :; do
		api GET "/v1/sandboxes/$(sbx_id busy)/processes/1/stdout?offset=$off&waitSeconds=10" -D "$T/rh" -o "$T/chunk"
		cat "$T/chunk" >>"$T/followed"
		off=$((off + $(stat -c %s "$T/chunk")))
		tr -d '\r' <"$T/rh" | grep -qx 'X-Sbx-Eof: 1' && break
	done
) &
reader=$!
pids=()
for i in $(seq 1 12); do
	api POST /v1/sandboxes -d "$(sbx_body name="s$i")" -o /dev/null &
	pids+=($!)
	api DELETE "/v1/sandboxes/s$i?gracePeriodSeconds=0" -o /dev/null &
	pids+=($!)
	api POST /v1/sandboxes/"$(sbx_id busy)":exec -d "{\"command\":[\"echo\",\"e$i\"]}" -o "$T/exec.$i" &
	pids+=($!)
	api GET "/v1/sandboxes?showTerminated=true" -o /dev/null &
	pids+=($!)
done
wait "${pids[@]}" 2>/dev/null || true
for i in $(seq 1 12); do
	expect "exec $i" "$(b64d "$(jget "$(cat "$T/exec.$i")" 'j["stdout"]')")" "e$i"
done
wait $reader
expect "followed stream" "$(cat "$T/followed")" "$(api GET /v1/sandboxes/$(sbx_id busy)/processes/1/stdout)"
expect "all 200 lines" "$(wc -l <"$T/followed")" 200
# every s$i is either live (RUNNING) or ended (TERMINATED): nothing in between
l=$(api GET '/v1/sandboxes?showTerminated=true&pageSize=1000')
bad=$(jget "$l" '[name(s) + ":" + s["status"]["state"] for s in j.get("sandboxes", []) if s["status"]["state"] not in ("STATE_RUNNING", "STATE_TERMINATED")]')
expect "states" "$bad" "[]"
# delete whatever runs, then the service is empty of live sandboxes
pids=()
for n in $(jget "$l" '" ".join(s["sandboxId"] for s in j.get("sandboxes", []) if s["status"]["state"] == "STATE_RUNNING")'); do
	api DELETE "/v1/sandboxes/$n?gracePeriodSeconds=0" -o /dev/null &
	pids+=($!)
done
wait "${pids[@]}"
expect "none live" "$(jget "$(api GET /v1/sandboxes)" 'len(j.get("sandboxes", []))')" 0
note "stress ok"
