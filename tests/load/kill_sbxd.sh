#!/usr/bin/env bash
# kill -9 of sbxd while shells are inside four kinds of call through the
# mount: a streamed read (cat stdout of a running process), a wait (cat
# returncode), a stdin write that is blocked on a full pipe, and a file
# copy into files/. Each shell gets an error within the deadline (a dead
# socket answers at once; 15 s covers a loaded machine); a copy that goes
# by the file's own descriptor (fileFd) calls no sbxd and goes on. After a restart on
# the same state dir, finished output (sha256) and exit codes read back
# intact through the same mount, which works again without a remount; then
# kill -9 of sbxfs, and a new mount shows the same state.
. "$TESTS_DIR/fs/common.sh"
ALLOW_LOG_ERRORS='^sbxd: (error|warning):'   # sbxd may complain about the sandboxes it lost
up -o timeout=3

# finished work before the crash: a sandbox's main command and a process
id=$(new_box 'echo main-out; exit 3')
eq "$(timeout 20 cat "$MNT/$id/returncode")" 3 "main command's code"
mkdir "$MNT/k"
p1=$(start_proc k 'head -c 3000000 /dev/urandom >/tmp/d; sha256sum </tmp/d >&2; cat /tmp/d; exit 7')
eq "$(timeout 20 cat "$MNT/k/exec/$p1/returncode")" 7 "finished process's code"
inner=$(cut -d' ' -f1 "$MNT/k/exec/$p1/stderr")
sum=$(sha256sum <"$MNT/k/exec/$p1/stdout" | cut -d' ' -f1)
eq "$sum" "$inner" "output before the crash (sha256 inside vs through the mount)"

# the four calls in flight
p2=$(start_proc k 'echo begin; sleep 600')
wait_grep "$MNT/k/exec/$p2/stdout" begin
cat "$MNT/k/exec/$p2/stdout" >"$T/stream.out" 2>"$T/stream.err" &
r_stream=$!
p3=$(start_proc k 'sleep 600')
cat "$MNT/k/exec/$p3/returncode" >"$T/wait.out" 2>"$T/wait.err" &
r_wait=$!
p4=$(start_proc k '{"command": ["sleep", "600"], "stdin": true}')
head -c 20000000 /dev/zero >"$MNT/k/exec/$p4/stdin" 2>"$T/stdin.err" &
r_stdin=$!
(for _ in $(seq 1 3000); do head -c 65536 /dev/urandom; sleep 0.01; done) |
	dd of="$MNT/k/files/tmp/copy" bs=64k iflag=fullblock 2>"$T/copy.err" &
r_copy=$!
sleep 1.5
for r in $r_stream $r_wait $r_stdin $r_copy; do
	kill -0 $r 2>/dev/null || fail "a call ended before the crash (pid $r): $(cat "$T"/*.err)"
done
# A local sbxd hands each files/ open the file's own descriptor (fileFd):
# then the copy's writes are sbxfs's pwrites into the sandbox's file, no
# call to sbxd at all, and they must go on unharmed through the crash.
copy_fd=
for f in /proc/"$FS_PID"/fd/*; do
	case $(readlink "$f" 2>/dev/null) in */tmp/copy) copy_fd=$f ;; esac
done
calls="stream:$r_stream wait:$r_wait stdin:$r_stdin"
[ -n "$copy_fd" ] || calls="$calls copy:$r_copy"
kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
t0=$(ms)
if [ -n "$copy_fd" ]; then
	s0=$(stat -L -c %s "$copy_fd")
	sleep 1
	s1=$(stat -L -c %s "$copy_fd")
	kill -0 "$r_copy" 2>/dev/null || fail "copy by descriptor ended with sbxd: $(cat "$T/copy.err")"
	[ "$s1" -gt "$s0" ] || fail "copy by descriptor stopped with sbxd ($s0 -> $s1 bytes)"
	note "copy by descriptor: $s0 -> $s1 bytes in the second after the crash"
	kill "$r_copy" 2>/dev/null || true
	wait "$r_copy" 2>/dev/null || true
fi
for what in $calls; do
	r=${what#*:}
	for _ in $(seq 1 150); do kill -0 "$r" 2>/dev/null || break; sleep 0.1; done
	t1=$(ms)
	kill -0 "$r" 2>/dev/null && fail "${what%:*}: still waiting $((t1 - t0)) ms after the crash"
	if wait "$r"; then fail "${what%:*}: ended without an error"; fi
	note "${what%:*}: error after $((t1 - t0)) ms: $(tail -n 1 "$T/${what%:*}.err")"
	[ $((t1 - t0)) -lt 15000 ] || fail "${what%:*} took $((t1 - t0)) ms"
done
mountpoint -q "$MNT" || fail "mount gone after the crash"

rm -f "$SOCK"
start_sbxd
# finished output and codes intact, through the same mount
eq "$(timeout 10 cat "$MNT/k/exec/$p1/returncode")" 7 "process code after the restart"
eq "$(sha256sum <"$MNT/k/exec/$p1/stdout" | cut -d' ' -f1)" "$inner" "process output after the restart"
eq "$(timeout 10 cat "$MNT/$id/returncode")" 3 "main command's code after the restart"
eq "$(timeout 10 cat "$MNT/$id/stdout")" main-out "main command's output after the restart"
eq "$(timeout 10 cat "$MNT/k/exec/$p2/stdout")" begin "the streamed process's output so far"
mkdir "$MNT/after"
p=$(start_proc after 'echo back')
eq "$(timeout 10 cat "$MNT/after/exec/$p/stdout")" back "works after the restart"
eq "$(timeout 10 cat "$MNT/after/exec/$p/returncode")" 0 "rc after the restart"

# kill -9 of sbxfs (auto_unmount's own check is tests/fs/sh_workstation.sh):
# a new mount shows the same state
kill -KILL "$FS_PID"
wait "$FS_PID" 2>/dev/null || true
FS_PID=
wait_for 10 sh -c "! grep -q ' $MNT ' /proc/mounts"
mount_sbxfs -o timeout=3
eq "$(timeout 10 cat "$MNT/k/exec/$p1/returncode")" 7 "process code in a new mount"
eq "$(sha256sum <"$MNT/k/exec/$p1/stdout" | cut -d' ' -f1)" "$inner" "process output in a new mount"
eq "$(timeout 10 cat "$MNT/$id/stdout")" main-out "main command's output in a new mount"
eq "$(timeout 10 cat "$MNT/after/exec/$p/stdout")" back "the last process in a new mount"
echo ok
