#!/usr/bin/env bash
# Faults between sbxfs (libsbx) and sbxd: tests/load/fault_proxy.py sits on
# the mount's socket and delays, stalls, drops, resets or cuts answers
# mid-body on command. With each fault: no shell call waits past the
# mount's deadline (plus 1.5 s of slack), a read of output that met it
# fails or gives every byte (never a short "success"), a start that met it ran
# at most once (counted in sbxd through its API, not through the proxy),
# and once the proxy heals the same mount works again, no remount.
. "$TESTS_DIR/fs/common.sh"
command -v python3 >/dev/null || skip "no python3 for the proxy"
D=2                       # the mount's deadline, -o timeout=
SLACK_MS=1500             # scheduling slack on a loaded 2-core machine
start_sbxd
MODE=$T/proxy.mode
echo ok >"$MODE"
python3 "$TESTS_DIR/load/fault_proxy.py" "$T/proxy.sock" "$SOCK" "$MODE" 2>"$T/proxy.log" &
PROXY=$!
trap 'rc=$?; kill "$PROXY" 2>/dev/null; set +e; (exit $rc); _cleanup' EXIT
wait_for 10 test -S "$T/proxy.sock"
SOCK=$T/proxy.sock mount_sbxfs -o timeout=$D

mkdir "$MNT/box"
box_id=$(sbx_id box)   # from sbxd itself (URLs take ids, the name is a tag)
[ -n "$box_id" ] || fail "sbxd does not list the sandbox box"
id=$(start_proc box 'echo warm')
eq "$(timeout 10 cat "$MNT/box/exec/$id/stdout")" warm "through the proxy"
# a finished output big enough that a cut answer ends mid-body
big=$(start_proc box 'head -c 300000 /dev/urandom | tee /tmp/big | sha256sum >&2; cat /tmp/big')
eq "$(timeout 20 cat "$MNT/box/exec/$big/returncode")" 0 "big output's code"
big_sum=$(cut -c1-64 "$MNT/box/exec/$big/stderr")

# timed NAME CMD...: runs CMD (bounded by timeout 60), records its exit
# status and error text, fails when it took longer than the deadline.
timed() {
	local name=$1 t0 t1 rc=0
	shift
	t0=$(ms)
	timeout 60 "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
	t1=$(ms)
	note "$name: rc $rc after $((t1 - t0)) ms: $(head -c 200 "$T/$name.err" | tr '\n' ' ')"
	[ $rc -ne 124 ] || fail "$name hung for 60 s"
	[ $((t1 - t0)) -le $((D * 1000 + SLACK_MS)) ] || fail "$name took $((t1 - t0)) ms, deadline ${D} s"
	return $rc
}

# count_cmd WORD: processes in box whose command holds WORD, per sbxd;
# count_boxes NAME: sandboxes (live or not) with the sbxfs name NAME
count_cmd() {
	api GET "/v1/sandboxes/$box_id/processes" |
		python3 -c 'import json,sys; w=sys.argv[1]; print(sum(1 for p in json.load(sys.stdin)["processes"] if any(w in a for a in p.get("command", []))))' "$1"
}
count_boxes() {
	api GET '/v1/sandboxes?showTerminated=true&pageSize=1000' |
		python3 -c 'import json,sys; w=sys.argv[1]; print(sum(1 for s in json.load(sys.stdin)["sandboxes"] if "sbxfs-name=" + w in s["spec"].get("tags", [])))' "$1"
}

healed() {
	local pid
	pid=$(start_proc box "echo healed-$1") || return 1
	[ "$(timeout 10 cat "$MNT/box/exec/$pid/stdout")" = "healed-$1" ]
}

# Each fault twice: on every call (reads too), and only on the POSTs that
# start a process or create a sandbox, so the fault meets the start itself
# (else a GET before it fails first and the start is never sent). A delay
# longer than the deadline only in the second form: its reads are the
# stall's case.
round=0
for fault in "stall" "drop" "reset" "cut" "stall @POST /v1/sandboxes" "delay 3000 @POST /v1/sandboxes" \
	"drop @POST /v1/sandboxes" "reset @POST /v1/sandboxes" "cut @POST /v1/sandboxes" \
	"cut @/stdout?" "reset @/stdout?"; do
	round=$((round + 1))
	f=${fault%% *}$round
	: >"$MODE.log"
	echo "$fault" >"$MODE"
	sleep 0.3   # a keep-alive connection's next chunk sees the mode too
	case $fault in *@/stdout*)
		# only the output reads meet it: the answer cut after its header
		if timed "$f.read" cat "$MNT/box/exec/$big/stdout"; then
			eq "$(sha256sum <"$T/$f.read.out" | cut -c1-64)" "$big_sum" "$f: a read that succeeded"
		fi
		grep -q "/stdout?" "$MODE.log" || fail "$f: no output read met the fault"
		echo ok >"$MODE"
		wait_for 20 healed "$f"
		note "$fault: faults met $(wc -l <"$MODE.log"), healed"
		continue
		;;
	esac
	# a start: fails with an errno, or works, but never hangs nor runs twice
	# (/bin/echo reports close(2)'s error, where a text start happens)
	src=0
	timed "$f.start" sh -c "/bin/echo 'echo started-$f' >'$MNT/box/exec/new'" || src=$?
	timed "$f.mkdir" mkdir "$MNT/new-$f" || true
	case $fault in
	*@*) grep -q "POST /v1/sandboxes/[^ ]*/processes" "$MODE.log" || fail "$f: the start never met the fault" ;;
	*)
		timed "$f.ls" ls "$MNT/box/exec" || true
		timed "$f.status" cat "$MNT/box/status" || true
		# a read that met the fault fails, or gives every byte: never short
		if timed "$f.read" cat "$MNT/box/exec/$big/stdout"; then
			eq "$(sha256sum <"$T/$f.read.out" | cut -c1-64)" "$big_sum" "$f: a read that succeeded"
		fi
		[ -s "$MODE.log" ] || fail "$f: the proxy never applied its fault"
		;;
	esac
	echo ok >"$MODE"
	# the delayed requests may still be landing in sbxd: let them
	case $fault in delay*) sleep 3 ;; esac
	wait_for 20 healed "$f"
	n=$(count_cmd "started-$f")
	[ "$n" -le 1 ] || fail "$f: the start ran $n times"
	# no silent loss: a start the shell saw succeed ran
	[ "$src" -ne 0 ] || [ "$n" -eq 1 ] || fail "$f: the start succeeded but nothing ran"
	nb=$(count_boxes "new-$f")
	[ "$nb" -le 1 ] || fail "$f: mkdir made $nb sandboxes"
	note "$fault: faults met $(wc -l <"$MODE.log") ($(cut -d" " -f1-3 "$MODE.log" | sort | uniq -c | tr -s "\n " " ")), start ran ${n}x, mkdir made $nb, healed"
done
mountpoint -q "$MNT" || fail "the mount went away"
echo ok
