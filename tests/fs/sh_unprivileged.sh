#!/usr/bin/env bash
# Users other than root mount sbxfs (libfuse runs the setuid fusermount3)
# against one sbxd whose socket is open to all (--socket-mode 0666), and use
# it: two users (nobody and daemon: fusermount3 wants a passwd entry, and
# these exist everywhere, so /etc stays as it is) each run a flow in a
# sandbox of the same name, and neither mount shows the other's sandbox.
# /dev/fuse is opened to other users for the test (distributions ship it
# 0666; this machine may not) and its mode restored afterwards; likewise a
# fusermount3 that lost its setuid bit.
# A root sbxd always maps each user's sandboxes to that user's range (issue
# 16), here of a subuid file the test writes (sbxd --subuid/--subgid: /etc
# stays as it is), and hostattack.sh's attacks run in both users'
# sandboxes, checked on the host: root inside is the range's first uid,
# never host root nor the user's own uid; a user without a range is refused.
# Root's own sandboxes run as host root, unless --userns (this test's
# argument) gives them root's range too.
USERNS=0
[ "${1:-}" = --userns ] && USERNS=1
. "$TESTS_DIR/fs/common.sh"
. "$TESTS_DIR/fs/hostattack.sh"
command -v setpriv >/dev/null || skip "no setpriv"
FM=$(command -v fusermount3) || skip "no fusermount3"
[ -c /dev/fuse ] || skip "no /dev/fuse"
U1=$(id -u nobody 2>/dev/null) || skip "no user nobody"
U2=$(id -u daemon 2>/dev/null) || skip "no user daemon"
[ "$U1" != 0 ] && [ "$U2" != 0 ] && [ "$U1" != "$U2" ] || skip "nobody and daemon are not two users here"
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"; }
# Tests that open device modes take turns: one that started while another
# had /dev/fuse at 0666 would take that for the mode to put back.
exec 9>/tmp/sbxtest-devmodes.lock
flock 9
FUSE_MODE=$(stat -c %a /dev/fuse)
FM_SUID=1
[ -u "$FM" ] || FM_SUID=0
UPIDS=()
_ucleanup() {
	local rc=$? u
	set +e
	for u in $U1 $U2; do
		as "$u" fusermount3 -u "$T/um$u" 2>/dev/null || fusermount3 -u -z "$T/um$u" 2>/dev/null
	done
	for u in "${UPIDS[@]}"; do wait "$u" 2>/dev/null; done
	chmod "$FUSE_MODE" /dev/fuse
	[ "$FM_SUID" = 1 ] || chmod u-s "$FM"
	(exit $rc)
	_cleanup
}
trap _ucleanup EXIT
chmod 0666 /dev/fuse
[ "$FM_SUID" = 1 ] || chmod u+s "$FM"
as $U1 test -r /dev/fuse -a -w /dev/fuse || fail "/dev/fuse still closed to users ($(stat -c %A /dev/fuse))"

chmod o+x "$T"
# Ranges by name, by uid, and one for root's own sandboxes (used only
# under --userns).
printf 'nobody:300000:65536\n%s:400000:65536\nroot:500000:65536\n' "$U2" >"$T/subid"
if [ $USERNS = 1 ]; then
	start_sbxd --socket-mode 0666 --userns --subuid "$T/subid" --subgid "$T/subid"
	grep -q "all sandboxes, root's too, run in user namespaces of their owner's range" "$T/sbxd.log" ||
		fail "sbxd does not say it maps root's too"
	RBASE=500000
else
	start_sbxd --socket-mode 0666 --subuid "$T/subid" --subgid "$T/subid"
	grep -q "sandboxes of users other than root run in user namespaces of their owner's range" "$T/sbxd.log" ||
		fail "sbxd does not say it maps users"
	RBASE=0
fi
for u in $U1 $U2; do
	mkdir -p "$T/um$u"
	chown "$u" "$T/um$u"
	as "$u" "$SBXFS" "$T/um$u" -f -o "url=unix:$SOCK" >>"$T/sbxfs.log" 2>&1 &
	UPIDS+=($!)
done
for u in $U1 $U2; do
	# Root may not look into a user's mount (no allow_other): /proc tells.
	wait_for 10 grep -q " $T/um$u " /proc/mounts
	grep " $T/um$u " /proc/mounts | grep -q "user_id=$u" || fail "not mounted by $u: $(grep "$T/um$u" /proc/mounts)"
done
# The same flow for both, in a sandbox of the same name.
for u in $U1 $U2; do
	UM=$T/um$u
	as "$u" mkdir "$UM/ubox"
	as "$u" sh -c "echo 'echo hello from $u' > '$UM/ubox/exec/new'"
	eq "$(as "$u" cat "$UM/ubox/exec/last/stdout")" "hello from $u" "output as $u"
	eq "$(as "$u" cat "$UM/ubox/exec/last/returncode")" 0 "rc as $u"
done
# Each mount lists one sandbox, its own; root's API sees both.
sid() { as "$1" cat "$T/um$1/ubox/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxId"])'; }
i1=$(sid $U1)
i2=$(sid $U2)
[ -n "$i1" ] && [ "$i1" != "$i2" ] || fail "one sandbox for two users ($i1, $i2)"
for u in $U1 $U2; do
	eq "$(as "$u" ls "$T/um$u" | grep -v -x -e new -e error -e by-tag -e images -e snapshots | tr '\n' ' ')" "ubox " "sandboxes under the mount of $u"
done
root_ids=$(curl -sS --unix-socket "$SOCK" http://sbxd/v1/sandboxes |
	python3 -c 'import json,sys; print(" ".join(sorted(s["sandboxId"] for s in json.load(sys.stdin).get("sandboxes", []))))')
eq "$root_ids" "$(printf '%s\n' "$i1" "$i2" | sort | tr '\n' ' ' | sed 's/ $//')" "sandboxes root sees"
# Another's sandbox through the mount, by its id: absent, for reading and
# for writing a command to it.
as $U1 test -e "$T/um$U1/$i2" && fail "$U1 reaches $U2's $i2 through its mount"
as $U2 test -e "$T/um$U2/$i1" && fail "$U2 reaches $U1's $i1 through its mount"
as $U1 sh -c "echo 'touch /tmp/pwned' > '$T/um$U1/$i2/exec/new'" 2>/dev/null && fail "$U1 ran a command in $U2's sandbox"
eq "$(as $U2 sh -c "ls '$T/um$U2/ubox/exec'" | grep -c -x '[0-9]*')" 1 "processes in $U2's sandbox"
# Each user's sandbox as the user's own range on the host (with or
# without --userns), and files made through the mount are root's inside.
for u in $U1 $U2; do
	base=300000
	[ "$u" = "$U2" ] && base=400000
	as "$u" sh -c "echo made-by-$u > '$T/um$u/ubox/files/tmp/made'"
	as "$u" sh -c "echo 'stat -c \"%u %g\" /tmp/made; echo more >> /tmp/made; cat /tmp/made' > '$T/um$u/ubox/exec/new'"
	eq "$(as "$u" cat "$T/um$u/ubox/exec/last/stdout" | tr '\n' ' ')" "0 0 made-by-$u more " "a file made through the mount of $u, inside"
	# The mount shows the box's own ids, not the range's: root's files
	# as the mounting user's (sbxfs's rule), so the user may write
	# where root inside may.
	eq "$(as "$u" stat -c '%u %g' "$T/um$u/ubox/files/tmp/made")" "$u $(id -g "$u")" "owner of the file through the mount of $u"
	eq "$(as "$u" stat -c '%u' "$T/um$u/ubox/files/etc/passwd")" "$u" "owner of an image file through the mount of $u"
	as "$u" sh -c "echo etc-by-$u > '$T/um$u/ubox/files/etc/made'"
	as "$u" sh -c "echo 'stat -c \"%u %g\" /etc/made' > '$T/um$u/ubox/exec/new'"
	eq "$(as "$u" cat "$T/um$u/ubox/exec/last/stdout")" "0 0" "a file made in /etc through the mount of $u, inside"
	# and on the host, the range's first ids
	as "$u" sh -c "echo 'sleep 7790.$$$u' > '$T/um$u/ubox/exec/new'"
	wait_for 10 pgrep -f -x "sleep 7790.$$$u" >/dev/null
	hp=$(pgrep -f -x "sleep 7790.$$$u" | head -n 1)
	# Every uid of /proc's Uid line (real, effective, saved, fs):
	# the range's first, so neither host root nor the user itself.
	eq "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$hp/status")" "$base $base $base $base" \
		"host uids of a process in the sandbox of $u"
	[ "$base" != 0 ] && [ "$base" != "$u" ] || fail "range of $u is host root or its own uid"
	# and each process of the box (its init too): none outside the range
	for p in $(pgrep -f -x "sleep 7790.$$$u") $(ps -o ppid= -p "$hp"); do
		pu=$(awk '/^Uid:/ {print $2}' "/proc/$p/status")
		[ "$pu" = "$base" ] || fail "process $p of $u's sandbox runs as host uid $pu"
	done
	for f in /tmp/made /etc/made; do
		eq "$(stat -c '%u %g' "/proc/$hp/root$f")" "$base $base" "host owner of $f made through the mount of $u"
	done
	host_attacks "$u" "$T/um$u" ubox "$base"
done
# A user without a range gets no sandbox, and says why.
# (a real body, made here as root: the user's curl only sends it)
body=$(sbx_body)
r=$(setpriv --reuid=64009 --regid=64009 --clear-groups curl -sS --unix-socket "$SOCK" -X POST http://sbxd/v1/sandboxes -d "$body")
printf '%s' "$r" | grep -q "no range for user 64009 (uid 64009) in $T/subid: add one" || fail "a user without a range: $r"
# Root's own sandboxes: host root as before, or root's range under
# --userns.
r=$(api POST /v1/sandboxes -d "$(sbx_body -- sleep "7780.$$")")
wait_for 10 pgrep -f -x "sleep 7780.$$" >/dev/null
hp=$(pgrep -f -x "sleep 7780.$$" | head -n 1)
eq "$(stat -c %u "/proc/$hp")" $RBASE "host uid of root's own sandbox"
rid=$(printf '%s' "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxId"])')
# Files made by the API's file calls (REST's WriteFile and the
# extension's makeDir, then gRPC's WriteFile, whose calls run on
# threads of their own) belong to the box's root: the range's first
# ids on the host, 0 inside.
api POST "/v1/sandboxes/$rid:writeFile" -d '{"path": "/tmp/rest-made", "content": "cmVzdAo="}' >"$T/wf.out"
eq "$(cat "$T/wf.out")" "{}" "REST WriteFile in root's sandbox"
eq "$(api POST "/v1/sandboxes/$rid:makeDir" -d '{"path": "/tmp/rest-dir"}')" "{}" "REST makeDir in root's sandbox"
made=(/tmp/rest-made /tmp/rest-dir)
if /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null && command -v protoc >/dev/null; then
	mkdir -p "$T/py"
	protoc -I "$TESTS_DIR/../proto" -I /usr/include --python_out="$T/py" \
		"$TESTS_DIR/../proto/coreweave/sandbox/v1/sandbox.proto" "$TESTS_DIR/../proto/google/api/http.proto" \
		"$TESTS_DIR/../proto/google/api/annotations.proto"
	/usr/bin/python3 - "$T/py" "$SOCK.grpc" "$rid" <<'PY' || fail "gRPC WriteFile in root's sandbox"
import sys
sys.path.insert(0, sys.argv[1])
import grpc
from coreweave.sandbox.v1 import sandbox_pb2 as pb
ch = grpc.insecure_channel("unix:" + sys.argv[2])
fn = ch.unary_unary("/coreweave.sandbox.v1.SandboxService/WriteFile",
                    request_serializer=pb.WriteFileRequest.SerializeToString,
                    response_deserializer=pb.WriteFileResponse.FromString)
fn(pb.WriteFileRequest(sandbox_id=sys.argv[3], path="/tmp/grpc-made", content=b"grpc\n"), timeout=30)
PY
	made+=(/tmp/grpc-made)
else
	note "no python3-grpcio or protoc: gRPC WriteFile not checked"
fi
for f in "${made[@]}"; do
	eq "$(stat -c '%u %g' "/proc/$hp/root$f")" "$RBASE $RBASE" "host owner of $f made by the API"
done
r=$(api POST "/v1/sandboxes/$rid:exec" -d "$(python3 -c 'import json, sys
print(json.dumps({"command": ["stat", "-c", "%u %g"] + sys.argv[1:]}))' "${made[@]}")")
out=$(printf '%s' "$r" | python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(sys.stdin).get("stdout", "")).decode(), end="")' | tr '\n' ' ')
eq "$out" "$(printf '0 0 %.0s' "${made[@]}")" "owners inside of the files the API made"
# No thread of sbxd keeps a box's fs ids after a file call (REST
# through the mounts above and here, gRPC's own threads): each shows
# sbxd's, 0, as its fsuid and fsgid (the 4th of /proc's Uid/Gid).
for st in /proc/"$SBXD_PID"/task/*/status; do
	eq "$(awk '/^Uid:/ {u=$5} /^Gid:/ {g=$5} END {print u, g}' "$st")" "0 0" "fs ids of sbxd's thread $st"
done
for u in $U1 $U2; do
	as "$u" fusermount3 -u "$T/um$u"
done
for p in "${UPIDS[@]}"; do
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$p" 2>/dev/null && fail "sbxfs still running after the user unmounted"
done
echo ok
