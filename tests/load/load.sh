#!/usr/bin/env bash
# The load suite (scripts/load runs it full size, tests/load/small.sh small):
# BOXES sandboxes x PROCS processes, each writing MIB MiB of random data to
# stdout and MIB MiB to stderr, all started at once. The process itself
# hashes what it writes (sha256sum on a fifo that tee feeds) into its
# /tmp; the checkers compare that with what comes back through the mount
# (cat from byte 0 while it runs, a reader that reads the first 64 KiB and
# goes, dd from a random offset, tail -c) and through libsbx (sbx_cat: the
# whole stream, the same offset and tail ranges, the same first 64 KiB),
# and the exit code through both. Then WAITERS readers wait at once on one
# process's returncode (half through the mount, half through libsbx), and
# every one must read the code once it exits.
# Usage: load.sh BOXES PROCS MIB WAITERS   (env: SBXD SBXFS SBX_CAT TESTS_DIR
# and what tests/lib.sh reads; JOBS = checkers at a time, default 16)
. "$TESTS_DIR/fs/common.sh"
BOXES=${1:?BOXES}
PROCS=${2:?PROCS}
MIB=${3:?MIB}
WAITERS=${4:?WAITERS}
JOBS=${JOBS:-16}
: "${SBX_CAT:?SBX_CAT must point to the sbx_cat program}"
B=$((MIB * 1048576))
[ "$BOXES" -ge 1 ] && [ "$BOXES" -le 250 ] || fail "BOXES must be 1..250 (sbxd's --max-sandboxes is 256)"
[ "$PROCS" -ge 1 ] && [ "$PROCS" -le 1000 ] || fail "PROCS must be 1..1000"
[ "$MIB" -ge 1 ] && [ "$MIB" -le 4096 ] || fail "MIB must be 1..4096"
need=$((BOXES * PROCS * MIB * 2 / 1024 + 1))
avail=$(df -P --block-size=1G /tmp | awk 'NR==2 {print $4}')
[ "$avail" -gt $((need + 2)) ] || fail "needs ${need} GiB free under /tmp for the spools, has ${avail}"
ulimit -n 65536 2>/dev/null || true
up -o timeout=30
R=$T/results
mkdir -p "$R"

sha() { sha256sum | cut -c1-64; }
# waitp: waits for the jobs in pids (never a bare wait: sbxd and sbxfs are
# this shell's jobs too)
waitp() { [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"; }

# the command each process runs (dash in the sandbox): I = its number
proc_cmd() {
	local i=$1 rc=$(($1 % 256))
	printf '%s' "mkfifo /tmp/fo$i /tmp/fe$i; sha256sum </tmp/fo$i >/tmp/so$i & sha256sum </tmp/fe$i >/tmp/se$i & "
	printf '%s' "head -c $B /dev/urandom | tee /tmp/fo$i; head -c $B /dev/urandom | tee /tmp/fe$i >&2; wait; exit $rc"
}

# check_one BOX PID I ID: every comparison for one process (ID: BOX's
# sandbox id, what libsbx takes); one line in $R/I
check_one() {
	local box=$1 pid=$2 i=$3 sid=$4 m=$MNT/$1/exec/$2 bad=() k
	local head_m a_out a_err rc_m rc_l in_out in_err
	# while it runs: one reader comes, takes 64 KiB and goes; one follows
	head_m=$(head -c 65536 "$m/stdout" | sha)
	a_out=$(sha <"$m/stdout")
	a_err=$(sha <"$m/stderr")
	rc_m=$(cat "$m/returncode")
	rc_l=$("$SBX_CAT" "$SOCK" "$sid" "$pid" rc)
	in_out=$(cut -c1-64 "$MNT/$box/files/tmp/so$i")
	in_err=$(cut -c1-64 "$MNT/$box/files/tmp/se$i")
	[ "$a_out" = "$in_out" ] || bad+=("stdout via mount")
	[ "$a_err" = "$in_err" ] || bad+=("stderr via mount")
	[ "$("$SBX_CAT" "$SOCK" "$sid" "$pid" out | sha)" = "$in_out" ] || bad+=("stdout via libsbx")
	[ "$("$SBX_CAT" "$SOCK" "$sid" "$pid" err | sha)" = "$in_err" ] || bad+=("stderr via libsbx")
	[ "$("$SBX_CAT" "$SOCK" "$sid" "$pid" out 0 65536 | sha)" = "$head_m" ] || bad+=("first 64 KiB")
	k=$(((RANDOM * 32768 + RANDOM) % B))
	[ "$(dd if="$m/stdout" bs=64k iflag=skip_bytes skip=$k status=none | sha)" = \
		"$("$SBX_CAT" "$SOCK" "$sid" "$pid" out $k | sha)" ] || bad+=("stdout from offset $k")
	k=$((RANDOM % 100000 + 1))
	[ "$(tail -c $k "$m/stderr" | sha)" = "$("$SBX_CAT" "$SOCK" "$sid" "$pid" err $((B - k)) | sha)" ] ||
		bad+=("stderr tail -c $k")
	[ "$(stat -c %s "$m/stdout")" = "$B" ] || bad+=("stdout size $(stat -c %s "$m/stdout")")
	[ "$rc_m" = "$((i % 256))" ] || bad+=("returncode via mount $rc_m")
	[ "$rc_l" = "$((i % 256))" ] || bad+=("returncode via libsbx $rc_l")
	if [ ${#bad[@]} -eq 0 ]; then echo ok >"$R/$i"; else printf '%s, ' "$box/$pid:" "${bad[@]}" >"$R/$i"; fi
}

note "load: $BOXES sandboxes x $PROCS processes x $MIB MiB to stdout and to stderr each"
t0=$(ms)
pids=()
for s in $(seq 1 "$BOXES"); do
	mkdir "$MNT/b$s" &
	pids+=($!)
	[ $((s % 16)) -ne 0 ] || { waitp; pids=(); }
done
waitp
t1=$(ms)
bid=()   # each box's sandbox id, found by its name tag as libsbx finds it
for s in $(seq 1 "$BOXES"); do
	[ -d "$MNT/b$s" ] || fail "sandbox b$s not made"
	bid[s]=$(sbx_id "b$s")
	[ -n "${bid[s]}" ] || fail "sbxd does not list the sandbox b$s"
done
# start every process (each sandbox's starts in order, sandboxes at once)
pids=()
for s in $(seq 1 "$BOXES"); do
	(
		exec 3>"$T/pids.$s"
		for p in $(seq 1 "$PROCS"); do
			i=$(((s - 1) * PROCS + p))
			echo "$s $(start_proc "b$s" "$(proc_cmd $i)") $i" >&3
		done
	) &
	pids+=($!)
	[ $((s % 8)) -ne 0 ] || { waitp; pids=(); }
done
waitp
t2=$(ms)
cat "$T"/pids.* >"$T/all"
[ "$(wc -l <"$T/all")" -eq $((BOXES * PROCS)) ] || fail "$(wc -l <"$T/all") processes started, want $((BOXES * PROCS))"
note "made $BOXES sandboxes in $((t1 - t0)) ms, started $((BOXES * PROCS)) processes in $((t2 - t1)) ms"
# JOBS checkers at a time: each slot runs every JOBS-th process in turn
pids=()
for slot in $(seq 0 $((JOBS - 1))); do
	(
		n=0
		while read -r s pid i; do
			[ $((n % JOBS)) -ne "$slot" ] || check_one "b$s" "$pid" "$i" "${bid[s]}"
			n=$((n + 1))
		done <"$T/all"
	) &
	pids+=($!)
done
waitp
t3=$(ms)
bad=$(grep -vx ok "$R"/* || true)
okn=$(grep -lx ok "$R"/* | wc -l)
mib_total=$((BOXES * PROCS * MIB * 2))
# read per process: both streams whole through each path, plus the ranges
note "checked $okn of $((BOXES * PROCS)) processes in $((t3 - t2)) ms; $mib_total MiB written," \
	"$((mib_total * 2)) MiB read whole (mount + libsbx): $((mib_total * 2 * 1000 / (t3 - t1 + 1))) MiB/s" \
	"from the first start to the last check"
[ -z "$bad" ] || fail "mismatches: $(printf '%s\n' "$bad" | head -20)"
[ "$okn" -eq $((BOXES * PROCS)) ] || fail "only $okn processes checked"

# WAITERS readers waiting at once on one returncode
mkdir "$MNT/w"
wid=$(sbx_id w)
[ -n "$wid" ] || fail "sbxd does not list the sandbox w"
wp=$(start_proc w 'while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 42')
mkdir -p "$T/w"
t4=$(ms)
pids=()
for j in $(seq 1 "$WAITERS"); do
	if [ $((j % 2)) -eq 0 ]; then
		cat "$MNT/w/exec/$wp/returncode" >"$T/w/$j" 2>"$T/w/$j.err" &
	else
		"$SBX_CAT" "$SOCK" "$wid" "$wp" rc >"$T/w/$j" 2>"$T/w/$j.err" &
	fi
	pids+=($!)
done
sleep 2
live=0
for p in "${pids[@]}"; do ! kill -0 "$p" 2>/dev/null || live=$((live + 1)); done
[ "$live" -eq "$WAITERS" ] || fail "$live of $WAITERS waiters still waiting before the exit: $(cat "$T"/w/*.err | sort | uniq -c | head -5)"
t5=$(ms)
: >"$MNT/w/files/tmp/go"
waitp
t6=$(ms)
got=$(cat "$T"/w/[0-9]* | sort | uniq -c | sed 's/^ *//')
[ "$got" = "$WAITERS 42" ] || fail "waiters read: $got; errors: $(cat "$T"/w/*.err | sort | uniq -c | head -5)"
note "$WAITERS waiters (half mount, half libsbx) set up in $((t5 - t4)) ms, all read 42 within $((t6 - t5)) ms of the exit"
echo ok
