#!/bin/bash
# A full state directory (issue 9, part 5): the test's own 16 MiB tmpfs is
# sbxd's state dir. Filled from the host, an :exec in a sandbox must report
# the lost output (an error status, or truncated with a reason), never 200
# with an empty stdout; under the --min-free floor the same; once space
# returns, the service works again.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=16m,mode=0700 sbxtest-fulldisk "$SMALL" || skip "cannot mount a tmpfs"
trap 'rc=$?; stop_sbxd; umount "$SMALL" 2>/dev/null || umount -l "$SMALL"; set +e; (exit $rc); _cleanup' EXIT
STATE=$SMALL/state
start_sbxd --min-free 0

# lost ID: the :exec answer of "echo hi" when output cannot be stored
check_lost() {
	local out st
	out=$(api POST "/v1/sandboxes/$1:exec" -d '{"command":["echo","hi"]}' -w '\n%{http_code}')
	st=${out##*$'\n'}
	out=${out%$'\n'*}
	note "exec on a full disk: $st $out"
	if [ "$st" = 200 ]; then
		[ "$(b64d "$(jget "$out" 'j["stdout"]')")" != hi ] || fail "output was stored after all?"
		expect "truncated" "$(jget "$out" 'j["stdoutTruncated"]')" true
	else
		expect "status" "$st" 500
		expect "code" "$(jget "$out" 'j["code"]')" 15
		# a real call: no reason of sbxd's own (the schema has none for it)
		expect "no ErrorInfo" "$(jget "$out" 'len([d for d in j.get("details", []) if "ErrorInfo" in d["@type"]])')" 0
		case $(jget "$out" 'j["message"]') in
		*"$2"*) ;;
		*) fail "message does not say why: $out" ;;
		esac
	fi
}

id=$(create "$(sbx_body name=a)")
wait_state "$id" STATE_RUNNING
expect "before" "$(exec_out "$id" '["echo","hi"]')" hi
# fill the file system from the host
dd if=/dev/zero of="$SMALL/fill" bs=1M count=64 2>/dev/null || true
[ "$(df --output=avail -k "$SMALL" | tail -1)" -lt 64 ] || fail "the tmpfs did not fill"
check_lost "$id" "no space left"
# the sandbox's stateReason carries it too
expect "sandbox reason" "$(jget "$(api GET "/v1/sandboxes/$id")" '"no space left" in j["status"].get("stateReason", "")')" true
# a process of the extension: truncated and its reason
api POST "/v1/sandboxes/$id/processes" -d '{"command":["echo","hi"]}' >/dev/null
p=$(api GET "/v1/sandboxes/$id/processes/1?waitSeconds=10")
expect "process reason" "$(jget "$p" '"stdout lost" in j["stateReason"]')" true
# space returns: the service works
rm -f "$SMALL/fill"
expect "after" "$(exec_out "$id" '["echo","hi"]')" hi
id2=$(create "$(sbx_body name=b)")
expect "new sandbox" "$(exec_out "$id2" '["echo","hi"]')" hi

# the floor: with --min-free 8Mi, the disk is not full yet output stops
stop_sbxd
start_sbxd --min-free 8Mi
id3=$(create "$(sbx_body name=c)")
expect "under the floor: fine" "$(exec_out "$id3" '["echo","hi"]')" hi
dd if=/dev/zero of="$SMALL/fill" bs=1M count=10 2>/dev/null
sleep 1.2 # init looks at free space once a MiB of output or once a second
check_lost "$id3" "less than 8388608 bytes free"
rm -f "$SMALL/fill"
sleep 1.2
expect "floor: after" "$(exec_out "$id3" '["echo","hi"]')" hi
echo ok
