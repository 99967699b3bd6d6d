#!/usr/bin/env bash
# The mount's fallback path end to end against the strict fake of the
# managed service (tests/conformance/fake.py: only the real REST surface of
# coreweave.sandbox.v1, strict parsing, no extension) in front of an sbxd
# started with --no-extension, so processes really run. With shell tools:
# create with a main command, wait, returncode, exec and its result, read
# and write files, list by tag, delete; and each thing the real surface
# cannot do answers ENOTSUP with a message in `error` (docs/filesystem.md,
# "Services without sbxd's extension"). Every exchange goes through
# tests/conformance/recorder.py and must pass wirecheck.py; the fake must
# have refused no request of libsbx's but the extension's discovery, and
# have found no off-schema answer of sbxd's.
. "$TESTS_DIR/fs/common.sh"
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import google.protobuf' 2>/dev/null || skip "no python3-protobuf for the fake"
command -v protoc >/dev/null || skip "no protoc for the fake"
# The fake's backend must serve the real surface alone (issue 10's sbxd).
start_sbxd --no-extension
FSOCK=$T/fake.sock RSOCK=$T/fake-rec.sock LOG=$T/exchanges.jsonl
"$PY" "$TESTS_DIR/conformance/fake.py" "$FSOCK" "$SOCK" 2>"$T/fake.log" &
FAKE=$!
"$PY" "$TESTS_DIR/conformance/recorder.py" "$RSOCK" "$FSOCK" "$LOG" fake_service 2>"$T/fake-rec.log" &
FREC=$!
trap 'rc=$?; set +e; umount_sbxfs; kill $FAKE $FREC 2>/dev/null; wait $FAKE $FREC 2>/dev/null; set +e; (exit $rc); _cleanup' EXIT
# The socket files exist from bind(), before a listen: wait for an answer.
for _ in $(seq 1 200); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 --unix-socket "$RSOCK" http://x/v1/extensions)" = 404 ] && break
	kill -0 "$FAKE" 2>/dev/null || { cat "$T/fake.log" >&2; fail "the fake exited"; }
	sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$RSOCK" http://x/v1/extensions)" = 404 ] ||
	fail "the fake announces extensions"
[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://x/v1/extensions)" = 404 ] ||
	fail "sbxd --no-extension announces extensions"
mkdir -p "$MNT"
"$SBXFS" "$MNT" -f -o "url=unix:$RSOCK" >>"$T/sbxfs.log" 2>&1 &
FS_PID=$!
wait_for 10 mountpoint -q "$MNT"

# enotsup WHAT ERRORFILE PATTERN CMD...: CMD fails with ENOTSUP and
# ERRORFILE then holds a message matching PATTERN.
enotsup() {
	local what=$1 efile=$2 pat=$3 out
	shift 3
	if out=$("$@" 2>&1); then fail "$what succeeded on the real surface: $out"; fi
	printf '%s\n' "$out" | grep -q "Operation not supported" || fail "$what: '$out' is not ENOTSUP"
	grep -qiE "$pat" "$efile" || fail "$what: $efile does not say why: $(cat "$efile")"
}

note "create with a main command, wait, returncode"
box=$(new_box 'echo hi; echo err >&2; exit 3')
case $(cat "$MNT/$box/status") in creating | pending | running | completed) ;; *) fail "status $(cat "$MNT/$box/status")" ;; esac
eq "$(timeout 60 cat "$MNT/$box/returncode")" 3 "main command's returncode (the read waits)"
eq "$(cat "$MNT/$box/status")" completed "status once the main command ended"
grep -q '"sandboxId"' "$MNT/$box/info" || fail "info: $(cat "$MNT/$box/info")"

note "an idle sandbox; exec and its result"
mkdir "$MNT/pub"
eq "$(cat "$MNT/pub/status")" running "idle status"
id=$(start_proc pub 'echo via; echo e >&2; exit 4')
eq "$(timeout 60 cat "$MNT/pub/exec/$id/returncode")" 4 "exec returncode"
eq "$(cat "$MNT/pub/exec/$id/stdout")" via "exec stdout"
eq "$(cat "$MNT/pub/exec/$id/stderr")" e "exec stderr"
eq "$(cat "$MNT/pub/exec/$id/status")" exited "exec status"
eq "$(cat "$MNT/pub/exec/$id/reason")" "exited 4" "exec reason"
# a JSON request with env and a working directory (the real Exec has env;
# libsbx runs the cwd through a wrapper)
id=$(start_proc pub '{"command": ["/bin/sh", "-c", "echo $K; pwd"], "env": {"K": "V"}, "workingDir": "/tmp"}')
eq "$(timeout 60 cat "$MNT/pub/exec/$id/returncode")" 0 "exec with env and cwd"
eq "$(cat "$MNT/pub/exec/$id/stdout")" "$(printf 'V\n/tmp')" "exec env and cwd applied"

note "read and write files"
grep -q root "$MNT/pub/files/etc/passwd" || fail "readFile /etc/passwd"
echo data >"$MNT/pub/files/tmp/f"
eq "$(cat "$MNT/pub/files/tmp/f")" data "a whole-file write reads back"
printf 'other\n' >"$MNT/pub/files/tmp/f"
eq "$(cat "$MNT/pub/files/tmp/f")" other "an overwrite"
id=$(start_proc pub 'cat /tmp/f')
timeout 60 cat "$MNT/pub/exec/$id/returncode" >/dev/null
eq "$(cat "$MNT/pub/exec/$id/stdout")" other "the sandbox sees the written file"
head -c 300000 /dev/urandom >"$T/big"
cp "$T/big" "$MNT/pub/files/tmp/big"
cmp -s "$T/big" "$MNT/pub/files/tmp/big" || fail "a 300 KB file does not read back the same"

note "list by tag"
printf '%s\n' '{"name": "t1", "tags": ["team-a"]}' >"$MNT/new"
eq "$(ls "$MNT/by-tag/team-a")" t1 "by-tag/team-a lists the tagged sandbox"
grep -qx team-a "$MNT/t1/tags" || fail "t1/tags: $(cat "$MNT/t1/tags")"
grep -qx sbxfs-name=t1 "$MNT/t1/tags" || fail "t1/tags lacks the name tag: $(cat "$MNT/t1/tags")"
ls "$MNT/by-tag/team-a" | grep -q pub && fail "an untagged sandbox under by-tag/team-a"
ls "$MNT" | grep -qx pub || fail "ls of the root lacks pub"

note "what the real surface cannot do: ENOTSUP, and why in error"
id=$(start_proc pub 'echo x')
timeout 60 cat "$MNT/pub/exec/$id/returncode" >/dev/null
enotsup "kill" "$MNT/pub/error" "support|signal" bash -c "echo kill >'$MNT/pub/exec/$id/ctl'"
enotsup "stdin eof" "$MNT/pub/error" "support|stdin" bash -c "echo eof >'$MNT/pub/exec/$id/ctl'"
enotsup "a process with a stdin" "$MNT/pub/error" "support|stdin" \
	bash -c "printf '%s\n' '{\"command\": [\"cat\"], \"stdin\": true}' >'$MNT/pub/exec/new'"
enotsup "an exec timeout" "$MNT/pub/error" "support|timeout" \
	bash -c "printf '%s\n' '{\"command\": [\"true\"], \"timeoutSeconds\": 5}' >'$MNT/pub/exec/new'"
enotsup "the main command's stdout" "$MNT/$box/error" "support|output|stream" cat "$MNT/$box/stdout"
enotsup "ls files/" "$MNT/pub/error" "support|list" ls "$MNT/pub/files/tmp"
enotsup "chmod" "$MNT/pub/error" "posix" chmod 600 "$MNT/pub/files/tmp/f"
enotsup "mv" "$MNT/pub/error" "posix" mv "$MNT/pub/files/tmp/f" "$MNT/pub/files/tmp/g"
# writing inside a file: read-modify-write up to 8 MiB, beyond that ENOTSUP
printf 'XY' | dd of="$MNT/pub/files/tmp/big" bs=1 seek=1000 conv=notrunc status=none ||
	fail "a write inside a 300 KB file"
printf 'XY' | dd of="$T/big" bs=1 seek=1000 conv=notrunc status=none
cmp -s "$T/big" "$MNT/pub/files/tmp/big" || fail "a write inside a 300 KB file: not what was written"
echo tail >>"$MNT/pub/files/tmp/f"
eq "$(cat "$MNT/pub/files/tmp/f")" "$(printf 'other\ntail')" "an append (read-modify-write)"
id=$(start_proc pub 'head -c 9000000 /dev/zero >/tmp/huge')
eq "$(timeout 60 cat "$MNT/pub/exec/$id/returncode")" 0 "a 9 MB file made in the sandbox"
enotsup "a write inside a file over 8 MiB" "$MNT/pub/error" "8 MiB|files" \
	dd if=/dev/zero of="$MNT/pub/files/tmp/huge" bs=1 count=1 seek=1000 conv=notrunc status=none
enotsup "images" "$MNT/error" "images" cat "$MNT/images"

note "delete"
echo stop >"$MNT/t1/ctl"
eq "$(cat "$MNT/t1/status")" terminated "status after stop"
rmdir "$MNT/pub"
ls "$MNT" | grep -qx pub && fail "pub still listed after rmdir"
echo delete >"$MNT/t1/ctl"
ls "$MNT" | grep -qx t1 && fail "t1 still listed after delete"
ls "$MNT/by-tag" | grep -qx team-a && fail "by-tag still has team-a after delete"

note "filesystem snapshots on the real surface: ctl, the snapshots files, a restore"
vspec='{"volumes": [{"name": "data", "scratch": {"size": "16Mi"RESTORE}}], "volumeMounts": [{"volume": "data", "mountPath": "/data"}]}'
vb=$(new_box "${vspec/RESTORE/}")
echo kept >"$MNT/$vb/files/data/k"
echo snapshot data >"$MNT/$vb/ctl"
sid=$(tail -n 1 "$MNT/$vb/snapshots" | cut -d' ' -f1)
for _ in $(seq 300); do grep -q "^$sid ready " "$MNT/snapshots/.all" && break; sleep 0.1; done
grep -q "^$sid ready " "$MNT/snapshots/.all" || fail "snapshot through the fake: $(cat "$MNT/snapshots/.all")"
ls "$MNT/snapshots" | grep -qx "$sid" || fail "snapshots/ does not list $sid: $(ls "$MNT/snapshots")"
"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["fileSystemSnapshotId"] == sys.argv[2], d' \
	"$MNT/snapshots/$sid" "$sid" || fail "snapshots/$sid through the fake: $(cat "$MNT/snapshots/$sid")"
vb2=$(new_box "${vspec/RESTORE/, \"restoreFromSnapshotId\": \"$sid\"}")
eq "$(cat "$MNT/$vb2/files/data/k")" kept "restored through the fake"

note "the wire: every exchange checked against the schema"
umount_sbxfs
if grep "OFF-SCHEMA ANSWER" "$T/fake.log" >&2; then fail "sbxd answered off the schema (above)"; fi
# libsbx's only refused call is the extension's discovery
bad=$(grep "^fake: refused" "$T/fake.log" | grep -v "refused GET /v1/extensions: 404" || true)
[ -z "$bad" ] || fail "the fake refused requests of libsbx's: $bad"
"$PY" "$TESTS_DIR/conformance/wirecheck.py" report "$LOG" >"$T/report.txt" ||
	{ cat "$T/report.txt" >&2; fail "exchanges off the schema (report above)"; }
for rpc in CreateSandbox GetSandbox ListSandboxes DeleteSandbox Exec ReadFile WriteFile CreateFileSystemSnapshot \
	ListFileSystemSnapshots; do
	grep -qE "^  $rpc +libsbx +[1-9]" "$T/report.txt" || fail "no $rpc of libsbx's went through the fake"
done
note "$(tail -n 1 "$T/report.txt")"
echo ok
