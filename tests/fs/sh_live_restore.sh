#!/usr/bin/env bash
# Live restore through the mount (issue 15): sbxfs stays mounted across a
# kill -9 of sbxd and its restart on the same state dir. The sandbox made
# with mkdir is still running in the same mount, a process that exited
# while sbxd was down reads back its exit code, a stream written across
# the restart reads back whole (sha256), a `cat returncode` waiting across
# a second kill and restart gets the code of a process that ended after
# it (libsbx asks again while sbxd is away, within the mount's deadline),
# and exec/new starts new work without a remount. Without the extension
# (scripts/test-no-extension) the processes' streams break with sbxd and
# their readers get that error; the box and new work go on.
. "$TESTS_DIR/fs/common.sh"
export SBX_LIVE=1
ALLOW_LOG_ERRORS='^sbxfs: (error|warning):'   # the mount says what failed while sbxd was down
up -o timeout=10

mkdir "$MNT/box"
gate='g() { while [ ! -e /tmp/$1 ]; do sleep 0.05; done; }'
down=$(start_proc box "$gate; g down; exit 42")
stream=$(start_proc box "$gate; i=0; while [ \$i -lt 300 ]; do [ \$i = 150 ] && g down; echo \"row \$i\"; i=\$((i+1)); done")
late=$(start_proc box "$gate; g back; exit 7")
want=$(python3 -c 'import hashlib; print(hashlib.sha256("".join("row %d\n" % i for i in range(300)).encode()).hexdigest())')
# (a read of stdout follows the run: head takes the first half and goes)
eq "$(timeout 10 head -n 150 "$MNT/box/exec/$stream/stdout" | wc -l)" 150 "the stream's first half"
box_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxId"])' <"$MNT/box/info")
init=
for p in $(cat /sys/fs/cgroup/*/sbxd-*/"$box_id"/cgroup.procs 2>/dev/null); do
	case $( { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) in sbx-init*) init=$p ;; esac
done
[ -n "$init" ] || fail "no init of the box found"

kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
touch "/proc/$init/root/tmp/down"
sleep 1
mountpoint -q "$MNT" || fail "mount gone with sbxd"
rm -f "$SOCK"
start_sbxd
eq "$(cat "$MNT/box/status")" running "the box after the restart, same mount"
if ! sbx_extension_on; then
	# The real surface (no extension): a process lives with its
	# StreamExec, which sbxd's kill -9 broke, and there is no process to
	# find again (no ids, no list). Every reader of those three processes
	# gets the stream's error, never a made-up code or a clean EOF over
	# lost output; the box itself and new work go on in the same mount.
	for p in "$down" "$stream" "$late"; do
		if out=$(timeout 10 cat "$MNT/box/exec/$p/returncode" 2>"$T/rc.err"); then
			fail "returncode of process $p whose stream broke answered '$out'"
		fi
		[ -s "$T/rc.err" ] || fail "returncode of process $p failed without a message"
		note "process $p after the break: $(cat "$T/rc.err")"
	done
	if timeout 10 cat "$MNT/box/exec/$stream/stdout" >/dev/null 2>"$T/out.err"; then
		fail "the broken stream's stdout read to a clean EOF"
	fi
	id=$(start_proc box 'echo new work; exit 3')
	eq "$(timeout 10 cat "$MNT/box/exec/$id/stdout")" "new work" "exec/new after the restart, no remount"
	eq "$(timeout 10 cat "$MNT/box/exec/$id/returncode")" 3 "its code"
	rmdir "$MNT/box"
	echo ok
	exit 0
fi
eq "$(timeout 10 cat "$MNT/box/exec/$down/returncode")" 42 "code of the exit while sbxd was down"
eq "$(timeout 20 cat "$MNT/box/exec/$stream/stdout" | sha256sum | cut -d' ' -f1)" "$want" "the stream, whole"
eq "$(timeout 10 cat "$MNT/box/exec/$stream/returncode")" 0 "stream's code"
# A `cat returncode` waiting across a restart: libsbx asks again while
# sbxd is away (within the mount's deadline, 10 s here) and gets the code
# of the process that ends after the restart.
timeout 30 cat "$MNT/box/exec/$late/returncode" >"$T/late.rc" 2>"$T/late.err" &
waiter=$!
# (parked in its long-poll first: the open and lookups before it are
# plain calls, which fail at once while sbxd is away)
sleep 2
kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
rm -f "$SOCK"
sleep 0.5
start_sbxd
kill -0 "$waiter" 2>/dev/null || fail "the waiter ended with sbxd: $(cat "$T/late.err")"
touch "/proc/$init/root/tmp/back"
wait "$waiter" || fail "the waiter across the restart failed: $(cat "$T/late.err")"
eq "$(cat "$T/late.rc")" 7 "code of the process that ended after the second restart"
id=$(start_proc box 'echo new work')
eq "$(timeout 10 cat "$MNT/box/exec/$id/stdout")" "new work" "exec/new after the restart, no remount"
eq "$(cat "$MNT/box/exec/$id/returncode")" 0 "its code"
rmdir "$MNT/box"
echo ok
