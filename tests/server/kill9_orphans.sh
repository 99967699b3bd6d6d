#!/bin/bash
# kill -9 of sbxd leaves no sandbox running unseen (issue 15). Each box's
# init exits when sbxd's end of its control socket closes, and the kernel
# then kills the whole PID namespace: so within seconds of the kill, and
# before any new sbxd starts, no process of any sandbox is alive (checked
# on the host: every pid seen in this sbxd's cgroups, the zygote, the
# processes with the state dir in their command line), however hard they
# try to stay (SIGTERM/SIGHUP ignored, setsid + double fork, nohup, a
# process stopped with SIGSTOP, the main command and an exec'd one). A new
# sbxd on the same state dir then reports every sandbox that was running
# FAILED "sbxd restarted" and its processes KILLED, never half-alive:
# their output up to the kill reads back, their cgroups are gone, and new
# sandboxes work.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd
cg=$(python3 -c '
import sys
h = 1469598103934665603
for b in sys.argv[1].encode():
    h = ((h ^ b) * 1099511628211) % 2**64
print("sbxd-%012x" % (h & 0xffffffffffff))' "$(realpath "$STATE")")

main=$(create "$(sbx_body name=main -- sh -c 'echo main-out; trap "" TERM HUP INT; while :; do sleep 1; done')")
idle=$(create "$(sbx_body name=idle)")
start() { api POST "/v1/sandboxes/$idle/processes" -d "{\"command\":[\"sh\",\"-c\",\"$1\"]}" >/dev/null; }
start 'echo p1-out; trap \"\" TERM HUP INT; exec sleep 600'
start 'setsid sh -c \"sleep 600 & sleep 600\" & echo p2-out; sleep 600'
start 'nohup sleep 600 >/dev/null 2>&1 & echo p3-out; wait'
start 'echo p4-out; kill -STOP $$'
out_of() { [ "$(api GET "/v1/sandboxes/$idle/processes/$1/stdout")" = "$2" ]; }
wait_for 10 out_of 1 p1-out
wait_for 10 out_of 2 p2-out
wait_for 10 out_of 3 p3-out
wait_for 10 out_of 4 p4-out
main_out() { [ "$(api GET "/v1/sandboxes/$main/stdout")" = main-out ]; }
wait_for 10 main_out
sleep 0.3   # the double fork's grandchild settles in
pids=$(cat /sys/fs/cgroup/*/"$cg"/*/cgroup.procs 2>/dev/null | sort -u)
n=$(printf '%s\n' "$pids" | grep -c . || true)
[ "$n" -ge 10 ] || fail "only $n processes seen in this sbxd's cgroups ($cg): the check below would prove little"
kids=$(pgrep -P "$SBXD_PID" | tr '\n' ' ')
note "$n sandbox processes in $cg; sbxd's children: $kids"

kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
alive() {
	local p left=
	for p in $pids $kids; do
		[ -d "/proc/$p" ] || continue
		# a zombie is not running, and a reused pid is not ours
		case $(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null) in Z | X | "") continue ;; esac
		if grep -q "$cg" "/proc/$p/cgroup" 2>/dev/null || printf '%s' " $kids " | grep -q " $p "; then
			left+="$p($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)) "
		fi
	done
	for p in $(pgrep -f -- "$STATE" || true); do
		left+="$p($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)) "
	done
	printf '%s' "$left"
}
t0=$(date +%s%3N)
while [ -n "$(alive)" ]; do
	[ $(($(date +%s%3N) - t0)) -lt 5000 ] || fail "5 s after kill -9 of sbxd, still running: $(alive)"
	sleep 0.05
done
note "every sandbox process gone $(($(date +%s%3N) - t0)) ms after the kill, before any restart"

start_sbxd
for id in "$main" "$idle"; do
	sb=$(api GET "/v1/sandboxes/$id")
	expect "state of $id after the restart" "$(jget "$sb" 'j["status"]["state"]')" STATE_FAILED
	expect "reason of $id" "$(jget "$sb" 'j["status"]["stateReason"]')" "sbxd restarted"
done
expect "main output kept" "$(api GET "/v1/sandboxes/$main/stdout")" main-out
for n in 1 2 3 4; do
	pr=$(api GET "/v1/sandboxes/$idle/processes/$n")
	expect "process $n after the restart" "$(jget "$pr" 'j["state"]')" PROCESS_STATE_KILLED
	expect "process $n's reason" "$(jget "$pr" 'j["stateReason"]')" "sbxd restarted"
	expect "process $n's output kept" "$(api GET "/v1/sandboxes/$idle/processes/$n/stdout")" "p$n-out"
done
# waits on them answer at once instead of hanging
t0=$(date +%s%3N)
api GET "/v1/sandboxes/$idle/processes/1?waitSeconds=20" >/dev/null
[ $(($(date +%s%3N) - t0)) -lt 5000 ] || fail "a wait on a process killed by the restart waited"
# the new sbxd removed the old boxes' cgroups
for id in "$main" "$idle"; do
	for d in /sys/fs/cgroup/*/"$cg"/"$id"; do
		[ ! -e "$d" ] || fail "cgroup $d left after the restart"
	done
done
after=$(create "$(sbx_body name=after)")
expect "serves after" "$(exec_out "$after" '["echo","hi"]')" hi
note "kill -9: nothing left running, everything reported"
