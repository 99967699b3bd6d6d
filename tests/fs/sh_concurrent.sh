#!/usr/bin/env bash
# 100 processes started at once through the same exec/new, every id, output
# and code right; then 1000 readers waiting on one returncode at once, served
# by a bounded number of sbxfs threads, all answered when the process ends.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/c"
pids=
for i in $(seq 1 100); do
	(
		exec 3<>"$MNT/c/exec/new"
		printf 'echo out%s; echo err%s >&2; exit %s\n' "$i" "$i" "$((i % 100))" >&3
		read -r id <&3
		printf '%s %s\n' "$i" "$id" >"$T/started.$i"
	) &
	pids="$pids $!"
done
# (a bare `wait` would wait for sbxd and sbxfs too)
for p in $pids; do wait "$p" || fail "a start failed"; done
ids=$(cat "$T"/started.* | cut -d' ' -f2 | sort -n | uniq | wc -l)
eq "$ids" 100 "distinct process ids"
for i in $(seq 1 100); do
	read -r n id <"$T/started.$i"
	eq "$(cat "$MNT/c/exec/$id/returncode")" "$((n % 100))" "rc of $n"
	eq "$(cat "$MNT/c/exec/$id/stdout")" "out$n" "stdout of $n"
	eq "$(cat "$MNT/c/exec/$id/stderr")" "err$n" "stderr of $n"
done
eq "$(ls "$MNT/c/exec" | grep -c '^[0-9]')" 100 "exec listing"

N=${FS_WAITERS:-1000}
id=$(start_proc c 'sleep 600')
cats=
for i in $(seq 1 "$N"); do
	cat "$MNT/c/exec/$id/returncode" >"$T/rc.$i" 2>&1 &
	cats="$cats $!"
done
sleep 2
threads=$(ls "/proc/$FS_PID/task" | wc -l)
note "sbxfs threads with $N readers waiting: $threads"
[ "$threads" -le 40 ] || fail "$threads threads for $N waiting readers"
echo "kill 15" >"$MNT/c/exec/$id/ctl"
for p in $cats; do wait "$p" || true; done
bad=0
for i in $(seq 1 "$N"); do
	[ "$(cat "$T/rc.$i")" = 143 ] || { bad=$((bad + 1)); note "reader $i: $(head -c 200 "$T/rc.$i")"; }
done
eq "$bad" 0 "readers without 143"

# readers waiting for output, all woken by the same line
id=$(start_proc c 'sleep 3; echo done')
outs=
for i in $(seq 1 300); do
	cat "$MNT/c/exec/$id/stdout" >"$T/out.$i" 2>&1 &
	outs="$outs $!"
done
for p in $outs; do wait "$p" || true; done
bad=0
for i in $(seq 1 300); do
	[ "$(cat "$T/out.$i")" = done ] || { bad=$((bad + 1)); note "output reader $i: $(head -c 200 "$T/out.$i")"; }
done
eq "$bad" 0 "output readers without the line"
echo ok
