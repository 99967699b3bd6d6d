#!/usr/bin/env bash
# Shared waits (issue 14): any number of readers of one process's
# returncode share one long-poll, so they cost sbxfs (and sbxd) one
# connection, not one each; an interrupted reader leaves at once and the
# others still get the code.
. "$TESTS_DIR/fs/common.sh"
up
mkdir "$MNT/b"
echo 'sleep 6; exit 3' >"$MNT/b/exec/new"
p=$(readlink "$MNT/b/exec/last")
[ -n "$p" ] || fail "no exec/last"
nfd0=$(ls "/proc/$FS_PID/fd" | wc -l)
pids=()
for i in $(seq 1 300); do
	cat "$MNT/b/exec/$p/returncode" >"$T/rc.$i" 2>"$T/err.$i" &
	pids+=($!)
done
cat "$MNT/b/exec/$p/returncode" >"$T/rc.int" 2>"$T/err.int" &
victim=$!
sleep 1.5
nfd1=$(ls "/proc/$FS_PID/fd" | wc -l)
note "sbxfs descriptors: $nfd0 before, $nfd1 with 301 readers parked"
[ "$nfd1" -le $((nfd0 + 4)) ] || fail "301 readers of one returncode hold $((nfd1 - nfd0)) more descriptors"
# one reader killed (FUSE INTERRUPT): it ends now, not with the process
t0=$SECONDS
kill -TERM "$victim"
wait "$victim" 2>/dev/null || true
[ $((SECONDS - t0)) -le 2 ] || fail "the interrupted reader took $((SECONDS - t0)) s"
kill -0 "${pids[0]}" 2>/dev/null || fail "the other readers ended with the interrupted one"
bad=0
for i in $(seq 1 300); do
	wait "${pids[$((i - 1))]}" || bad=$((bad + 1))
done
[ "$bad" -eq 0 ] || fail "$bad readers failed: $(sort -u "$T"/err.* | head -3)"
for i in $(seq 1 300); do
	[ "$(cat "$T/rc.$i")" = 3 ] || fail "reader $i got '$(cat "$T/rc.$i")'"
done
# a reader that comes after the end is answered from the record
eq "$(cat "$MNT/b/exec/$p/returncode")" 3 "returncode after the end"
echo ok
