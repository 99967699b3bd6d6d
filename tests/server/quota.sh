#!/bin/bash
# Output cannot fill the host's disk (issue 9, part 5): all spools of one
# sandbox together stop at --output-quota, checked with du on the host's
# state dir; the streams read as truncated and stateReason says why.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd --output-quota 8Mi --min-free 0

spool_kib() { du -sk "$STATE/sandboxes" | cut -f1; }
id=$(create "$(sbx_body name=noisy)")
wait_state "$id" STATE_RUNNING
base=$(spool_kib)
# 3 processes x 5 MiB on stdout + 1 x 5 MiB on stderr: 20 MiB asked for
for i in 1 2 3; do
	api POST "/v1/sandboxes/$id/processes" -d '{"command":["sh","-c","head -c 5242880 /dev/zero; echo done >&2"]}' >/dev/null
done
api POST "/v1/sandboxes/$id/processes" -d '{"command":["sh","-c","head -c 5242880 /dev/zero >&2"]}' >/dev/null
total=0 reasons=
for n in 1 2 3 4; do
	p=$(api GET "/v1/sandboxes/$id/processes/$n?waitSeconds=30")
	expect "process $n ended" "$(jget "$p" 'j["state"]')" PROCESS_STATE_EXITED
	total=$((total + $(jget "$p" 'int(j.get("stdoutBytes", 0)) + int(j.get("stderrBytes", 0))')))
	reasons+="$(jget "$p" 'j.get("stateReason", "")')|"
done
used=$(( $(spool_kib) - base ))
note "spools stored $total bytes, du grew by $used KiB; reasons: $reasons"
[ "$total" -le $((8 << 20)) ] || fail "spools hold $total bytes, over the 8 MiB quota"
[ "$total" -ge $((8 << 20)) ] || fail "spools hold only $total bytes, the quota is 8 MiB"
[ "$used" -le $((8 * 1024 + 256)) ] || fail "the state dir grew by $used KiB on the host"
case $reasons in
*"output quota (8388608 bytes, sbxd --output-quota) is used up"*) ;;
*) fail "no process says its output hit the quota: $reasons" ;;
esac
expect "sandbox reason" "$(jget "$(api GET "/v1/sandboxes/$id")" '"output quota" in j["status"].get("stateReason", "")')" true
# reading a cut stream says it ended short; a whole one does not
# (20 MiB asked, 8 stored: at least two streams ended short)
cut=0
for n in 1 2 3 4; do
	for st in stdout stderr; do
		if api GET "/v1/sandboxes/$id/processes/$n/$st?offset=$((64 << 20))" -D - -o /dev/null | grep -qi '^X-Sbx-Truncated: 1'; then
			cut=$((cut + 1))
		fi
	done
done
[ "$cut" -ge 2 ] || fail "only $cut streams say X-Sbx-Truncated"

# once the quota is used up, more output is dropped and the host does not fill
api POST "/v1/sandboxes/$id/processes" -d '{"command":["sh","-c","head -c 3145728 /dev/zero"]}' >/dev/null
p=$(api GET "/v1/sandboxes/$id/processes/5?waitSeconds=30")
expect "late process bytes (0 is omitted)" "$(jget "$p" 'j.get("stdoutBytes", "0")')" 0
expect "late process reason" "$(jget "$p" '"stdout truncated" in j["stateReason"]')" true
[ $(( $(spool_kib) - base )) -le $((8 * 1024 + 256)) ] || fail "the state dir grew past the quota"
# a unary exec of this sandbox: its stream is marked truncated
out=$(exec_json "$id" '["sh","-c","echo hi"]')
expect "exec truncated" "$(jget "$out" 'j["stdoutTruncated"]')" true
expect "exec status code" "$(jget "$out" 'j.get("exitCode", 0)')" 0
# the reason shows through the mount: the sandbox's info
if [ -n "$SBXFS" ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
	mount_sbxfs
	grep -q "output quota (8388608 bytes" "$MNT/noisy/info" || fail "info does not show the quota: $(cat "$MNT/noisy/info")"
	umount_sbxfs
fi
# another sandbox has its own quota; :exec output, truncated or dropped by
# sbxd once answered, does not use it up: 12 x 1 MiB through an 8 MiB quota
id2=$(create "$(sbx_body name=quiet)")
expect "other sandbox" "$(exec_out "$id2" '["echo","hi"]')" hi
for i in $(seq 1 12); do
	exec_json "$id2" '["head","-c","1048576","/dev/zero"]' >"$T/exec.json"
	expect "exec $i whole" "$(python3 -c 'import base64, json, sys; j = json.load(open(sys.argv[1]))
print(j["stdoutBytesProduced"], j.get("stdoutTruncated", False), len(base64.b64decode(j["stdout"])))' "$T/exec.json")" "1048576 False 1048576"
done
api POST "/v1/sandboxes/$id2/processes" -d '{"command":["echo","whole"]}' >/dev/null
api GET "/v1/sandboxes/$id2/processes/1?waitSeconds=10" >/dev/null
! api GET "/v1/sandboxes/$id2/processes/1/stdout" -D - -o /dev/null | grep -qi '^X-Sbx-Truncated' || fail "a whole stream says truncated"
expect "quiet reason" "$(jget "$(api GET "/v1/sandboxes/$id2")" 'j["status"].get("stateReason", "")')" ""
# a process still running when it hits the quota: the sandbox says so at
# once, not only when it exits
id3=$(create "$(sbx_body name=long)")
api POST "/v1/sandboxes/$id3/processes" -d '{"command":["sh","-c","head -c 9437184 /dev/zero; exec sleep 60"]}' >/dev/null
says_quota() { [ "$(jget "$(api GET "/v1/sandboxes/$id3")" '"output quota" in j["status"].get("stateReason", "")')" = true ]; }
wait_for 10 says_quota
expect "still running" "$(jget "$(api GET "/v1/sandboxes/$id3/processes/1")" 'j["state"]')" PROCESS_STATE_RUNNING
echo ok
