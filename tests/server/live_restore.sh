#!/bin/bash
# Live restore (issue 15, "Sandboxes outlive sbxd"): kill -9 and SIGTERM of
# sbxd leave running sandboxes running, and a new sbxd on the same state
# dir takes them back with their processes, output, waits and exit codes.
# Checked: a sandbox running `sleep`, a process streaming output across the
# kill (sha256 of the whole known stream), one that exits while sbxd is
# down (its code kept), one still running at the restart (signalled after
# it through its old token), a main command that ends while sbxd is down
# (its sandbox COMPLETED with its code), a client waiting across the
# restart, new execs and processes, delete leaving no process, cgroup or
# live socket; then a loop of kill -9 during creates and execs: every
# sandbox afterwards is either taken back (RUNNING and an exec works in it)
# or ended with a reason, and no cgroup is left without a running sandbox.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
export SBX_LIVE=1
start_sbxd
cg=$(python3 -c '
import sys
h = 1469598103934665603
for b in sys.argv[1].encode():
    h = ((h ^ b) * 1099511628211) % 2**64
print("sbxd-%012x" % (h & 0xffffffffffff))' "$(realpath "$STATE")")

start() { # start ID SCRIPT -> process id
	local body
	body=$(python3 -c 'import json,sys; print(json.dumps({"command": ["sh", "-c", sys.argv[1]]}))' "$2")
	jget "$(api POST "/v1/sandboxes/$1/processes" -d "$body")" 'j["processId"]'
}
proc() { api GET "/v1/sandboxes/$1/processes/$2${3:-}"; }
pstate() { jget "$(proc "$1" "$2")" 'j["state"]'; }
pcode() { jget "$(proc "$1" "$2")" 'j.get("exitCode", 0)'; }
kill9() {
	kill -KILL "$SBXD_PID"
	wait "$SBXD_PID" 2>/dev/null || true
	SBXD_PID=
}
box_pids() { cat /sys/fs/cgroup/*/"$cg"/"$1"/cgroup.procs 2>/dev/null | sort -u; }

box=$(create "$(sbx_body name=box -- sleep 1000)")
# Gates the host opens through the box's root (/proc/INIT/root/tmp), so
# each step happens while sbxd is down or after it is back, however slow
# the machine: the stream's second half is written while sbxd is down.
gate() { while [ ! -e "/tmp/$1" ]; do sleep 0.05; done; }
stream=$(start "$box" "$(declare -f gate); i=0; while [ \$i -lt 200 ]; do [ \$i = 100 ] && gate s2; echo \"line \$i of the stream\"; i=\$((i+1)); sleep 0.01; done")
quick=$(start "$box" "$(declare -f gate); gate down; exit 42")
sleeper=$(start "$box" 'echo up; exec sleep 1000')
late=$(start "$box" "$(declare -f gate); gate back; exit 5")
want=$(python3 -c 'import hashlib; print(hashlib.sha256("".join("line %d of the stream\n" % i for i in range(200)).encode()).hexdigest())')
half() { [ "$(proc "$box" "$stream" /stdout | wc -l)" = 100 ]; }
wait_for 10 half
up() { [ "$(proc "$box" "$sleeper" /stdout)" = up ]; }
wait_for 10 up
# The box's init and its two `sleep 1000` (the main command, the sleeper).
long_pids() {
	local p
	for p in $(box_pids "$1"); do
		case $( { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) in "sleep 1000 " | sbx-init*) echo "$p" ;; esac
	done
}
before=$(long_pids "$box")
[ "$(printf '%s\n' $before | grep -c .)" -ge 3 ] || fail "want init and 2 sleeps in $cg/$box, got: $before"

# A client that waits for the late process's code across the restart:
# its long-poll is cut with sbxd; it asks again until it gets an answer.
(
	end=$((SECONDS + 60))
	while [ $SECONDS -lt $end ]; do
		a=$(api GET "/v1/sandboxes/$box/processes/$late?waitSeconds=10" 2>/dev/null) || { sleep 0.1; continue; }
		s=$(jget "$a" 'j.get("state", "")' 2>/dev/null) || { sleep 0.1; continue; }
		[ "$s" = PROCESS_STATE_RUNNING ] && continue
		jget "$a" 'j.get("exitCode", 0)' >"$T/late.code"
		break
	done
) 2>"$T/waiter.log" &
waiter=$!

# A main command that ends while sbxd is down.
ends=$(create "$(sbx_body name=ends -- sh -c "$(declare -f gate); gate down; exit 3")")
init_of() {
	local p
	for p in $(box_pids "$1"); do
		case $( { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) in sbx-init*) echo "$p"; return ;; esac
	done
}
box_init=$(init_of "$box") ends_init=$(init_of "$ends")
[ -n "$box_init" ] && [ -n "$ends_init" ] || fail "no init found in the cgroups"
kill9
for p in $before; do
	[ -d "/proc/$p" ] || fail "process $p of the box died with sbxd"
done
touch "/proc/$box_init/root/tmp/s2" "/proc/$box_init/root/tmp/down" "/proc/$ends_init/root/tmp/down"
sleep 1.5 # the stream's second half, the quick process's and ends' exits, all unseen
whole() { [ "$(wc -l <"$STATE/sandboxes/$box/$stream.stdout")" = 200 ]; }
wait_for 10 whole # init wrote the spool with no sbxd at all
t0=$(date +%s%N)
start_sbxd
t1=$(date +%s%N)
note "restart with 2 sandboxes to take back: $(((t1 - t0) / 1000000)) ms"
grep -q "live restore: 2 sandboxes taken back" "$T/sbxd.log" || fail "sbxd did not say it took 2 back: $(tail -5 "$T/sbxd.log")"
expect "box taken back" "$(state_of "$box")" STATE_RUNNING
expect "quick exited while sbxd was down" "$(pstate "$box" "$quick")" PROCESS_STATE_EXITED
expect "its code" "$(pcode "$box" "$quick")" 42
expect "sleeper still running" "$(pstate "$box" "$sleeper")" PROCESS_STATE_RUNNING
expect "late still running" "$(pstate "$box" "$late")" PROCESS_STATE_RUNNING
touch "/proc/$box_init/root/tmp/back"
wait_state "$ends" STATE_COMPLETED 10
expect "main command's code" "$(jget "$(api GET "/v1/sandboxes/$ends")" 'j["status"]["exitCode"]')" 3
done_stream() { [ "$(pstate "$box" "$stream")" = PROCESS_STATE_EXITED ]; }
wait_for 20 done_stream
expect "stream's code" "$(pcode "$box" "$stream")" 0
got=$(proc "$box" "$stream" /stdout | sha256sum | cut -d' ' -f1)
expect "the whole stream, none lost while sbxd was down" "$got" "$want"
wait "$waiter" || true
[ -s "$T/late.code" ] || fail "the waiter got no code: $(tail -5 "$T/waiter.log")"
expect "the waiter across the restart" "$(cat "$T/late.code")" 5
expect "late process" "$(pstate "$box" "$late")" PROCESS_STATE_EXITED
# New work in the adopted box: a unary exec, a process, a signal to an old one.
expect "new exec" "$(exec_out "$box" '["sh","-c","echo new-$((6*7))"]')" new-42
p5=$(start "$box" 'echo fresh; exit 9')
fresh() { [ "$(pstate "$box" "$p5")" = PROCESS_STATE_EXITED ]; }
wait_for 10 fresh
expect "new process's code" "$(pcode "$box" "$p5")" 9
expect "new process's output" "$(proc "$box" "$p5" /stdout)" fresh
api POST "/v1/sandboxes/$box/processes/$sleeper:signal" -d '{"signal": 15}' >/dev/null
killed() { [ "$(pstate "$box" "$sleeper")" = PROCESS_STATE_KILLED ]; }
wait_for 10 killed
expect "old process signalled through its old token" "$(pcode "$box" "$sleeper")" 143

# The same after SIGTERM: sbxd stops, the sandbox stays.
p6=$(start "$box" 'sleep 1; echo after-term; exit 6')
before=$(long_pids "$box")
detach_sbxd
grep -q "1 sandbox left running" "$T/sbxd.log" || fail "SIGTERM did not leave the sandbox running"
for p in $before; do
	[ -d "/proc/$p" ] || fail "process $p of the box died with a SIGTERM of sbxd"
done
sleep 1.5
start_sbxd
expect "box taken back after SIGTERM" "$(state_of "$box")" STATE_RUNNING
p6done() { [ "$(pstate "$box" "$p6")" = PROCESS_STATE_EXITED ]; }
wait_for 10 p6done
expect "exit while stopped by SIGTERM" "$(pcode "$box" "$p6")" 6
expect "its output" "$(proc "$box" "$p6" /stdout)" after-term
expect "exec after SIGTERM restart" "$(exec_out "$box" '["echo","again"]')" again

# The lifetime keeps counting across a restart: 3 s, most of it spent down.
short=$(create "$(sbx_body name=short lifetime=3 -- sleep 1000)")
kill9
sleep 3.5
start_sbxd
wait_state "$short" STATE_TERMINATED 10
expect "lifetime reason" "$(jget "$(api GET "/v1/sandboxes/$short")" 'j["status"].get("stateReason", "")')" \
	"maxLifetimeSeconds (3) reached"

# Delete leaves nothing: no process, no cgroup, no live socket or key.
pids=$(box_pids "$box")
api DELETE "/v1/sandboxes/$box" >/dev/null
wait_state "$box" STATE_TERMINATED 10
gone() {
	local p
	for p in $pids; do [ ! -d "/proc/$p" ] || return 1; done
	! ls -d /sys/fs/cgroup/*/"$cg"/"$box" >/dev/null 2>&1 && [ ! -e "$STATE/live/$box.sock" ] && [ ! -e "$STATE/live/$box.key" ]
}
wait_for 10 gone
[ "$(stat -c %a "$STATE/live")" = 700 ] || fail "live dir mode $(stat -c %a "$STATE/live")"

# A wrong key gets nothing: init drops the connection without a word, and
# still serves its sbxd.
probe=$(create "$(sbx_body name=probe -- sleep 1000)")
python3 - "$STATE/live/$probe.sock" <<'EOF' || fail "init answered a stranger"
import socket, struct, sys, array
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c, d = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
msg = struct.pack("II", 6, 1) + b"\0" * 32
s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [b.fileno(), d.fileno()]))])
s.settimeout(3)
assert s.recv(64) == b""  # closed, nothing sent
a.settimeout(0.5)
try:
    data = a.recv(64)
    assert data == b"", data
except socket.timeout:
    pass
EOF
expect "init still serves its sbxd" "$(exec_out "$probe" '["echo","mine"]')" mine

# kill -9 during creates and execs, in a loop: every sandbox is taken back
# whole or ended with a reason; no cgroup outlives its sandbox.
for round in 1 2 3; do
	loads=
	body=$(sbx_body -- sleep 1000)
	for c in 1 2 3; do
		(
			for i in 1 2 3 4 5 6; do
				id=$(api POST /v1/sandboxes -d "$body" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("sandboxId",""))' 2>/dev/null) || true
				[ -n "$id" ] && api POST "/v1/sandboxes/$id/processes" -d '{"command":["sleep","1000"]}' >/dev/null 2>&1
				[ -n "$id" ] && api POST "/v1/sandboxes/$id:exec" -d '{"command":["echo","x"]}' >/dev/null 2>&1
			done
		) &
		loads+=" $!"
	done
	sleep "$((RANDOM % 2 + 1)).$((RANDOM % 10))"
	kill9
	for c in $loads; do wait "$c" 2>/dev/null || true; done
	start_sbxd
	l=$(api GET '/v1/sandboxes?showTerminated=true&pageSize=1000')
	ids=$(jget "$l" '" ".join(s["sandboxId"] + ":" + s["status"]["state"] for s in j.get("sandboxes", []))')
	for e in $ids; do
		id=${e%%:*} st=${e#*:}
		case $st in
		STATE_RUNNING)
			[ "$(exec_out "$id" '["echo","ok"]')" = ok ] || fail "round $round: $id RUNNING but no exec works (half-adopted)" ;;
		STATE_FAILED)
			r=$(jget "$(api GET "/v1/sandboxes/$id")" 'j["status"].get("stateReason", "")')
			[ -n "$r" ] || fail "round $round: $id FAILED without a reason" ;;
		STATE_TERMINATED | STATE_COMPLETED) ;;
		*) fail "round $round: $id is $st after the restart" ;;
		esac
	done
	for d in /sys/fs/cgroup/unified/"$cg"/*/ /sys/fs/cgroup/"$cg"/*/; do
		[ -d "$d" ] || continue
		id=$(basename "$d")
		# A here-string, not a pipe: grep -q may exit before printf has
		# written all, and under pipefail printf's SIGPIPE failed the check.
		# shellcheck disable=SC2086
		grep -qx "$id:STATE_RUNNING" <<<"$(printf '%s\n' $ids)" ||
			fail "round $round: cgroup $d left without a running sandbox (listed as: $(printf '%s\n' $ids | grep "^$id:" || echo none); now: $(api GET "/v1/sandboxes/$id" 2>&1 | head -c 600); procs: $(cat "$d/cgroup.procs" 2>/dev/null | wc -l))"
	done
	note "round $round: $(printf '%s\n' $ids | grep -c RUNNING) running, $(printf '%s\n' $ids | grep -c FAILED) failed"
done

# A full stop (SIGUSR1) ends them all: nothing of this sbxd is left.
all=$(cat /sys/fs/cgroup/*/"$cg"/*/cgroup.procs 2>/dev/null | sort -u)
stop_sbxd
grep -q "shutting down and stopping every sandbox" "$T/sbxd.log" || fail "no full stop in the log"
nothing_left() {
	local p
	for p in $all; do [ ! -d "/proc/$p" ] || return 1; done
	! ls -d /sys/fs/cgroup/*/"$cg"/*/ >/dev/null 2>&1 && [ -z "$(ls -A "$STATE/live")" ]
}
wait_for 10 nothing_left
note "live restore ok"
