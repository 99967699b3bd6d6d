#!/usr/bin/env bash
# Many waits at once (issue 14, "waitProcesses"): WAIT_MANY_N readers of
# the returncode of as many different processes (default 600 here;
# scripts/bench-waits runs 10,000) wait on a few batched calls, not one
# connection each. Counted on the host while they wait: descriptors and
# threads of sbxfs and of sbxd. Then every process is let go at once and
# each reader must get its own process's code.
. "$TESTS_DIR/fs/common.sh"
N=${WAIT_MANY_N:-600}
PER=500         # processes per sandbox
up -o lifetime=7200   # a 10,000 run takes many minutes to start
nbox=$(((N + PER - 1) / PER))
ids=()
for b in $(seq 1 "$nbox"); do
	mkdir "$MNT/w$b"
	ids+=("$(sed -n 's/.*"sandboxId": *"\([^"]*\)".*/\1/p' "$MNT/w$b/info" | head -1)")
	f=$(start_proc "w$b" 'mkfifo /tmp/go')
	eq "$(cat "$MNT/w$b/exec/$f/returncode")" 0 "mkfifo in w$b"
done
# Starts on one kept connection (a process per start would take minutes).
printf '%s\n' "${ids[@]}" >"$T/ids"
python3 - "$_SBXD_SOCK" "$T/ids" "$N" "$PER" >"$T/procs" <<'PY' || fail "starting the processes failed"
import http.client, json, socket, sys
sock, idfile, n, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ids = open(idfile).read().split()
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sock)
c = C("sbxd", timeout=60)
for i in range(n):
    b = i // per
    code = (i * 7 + 3) % 251
    body = json.dumps({"command": ["sh", "-c", "read x </tmp/go; exit %d" % code]})
    c.request("POST", "/v1/sandboxes/%s/processes" % ids[b], body, {"Content-Type": "application/json"})
    r = c.getresponse()
    a = json.loads(r.read())
    if r.status != 200:
        sys.exit("start %d: %d %s" % (i, r.status, a))
    print("w%d %d %d" % (b + 1, int(a["processId"]), code))
PY
[ "$(wc -l <"$T/procs")" -eq "$N" ] || fail "started $(wc -l <"$T/procs") of $N"
nfd_fs0=$(ls "/proc/$FS_PID/fd" | wc -l)
nfd_d0=$(ls "/proc/$SBXD_PID/fd" | wc -l)
nth_fs0=$(ls "/proc/$FS_PID/task" | wc -l)
nth_d0=$(ls "/proc/$SBXD_PID/task" | wc -l)
mkdir "$T/rc"
pids=()
i=0
while read -r box pid code; do
	cat "$MNT/$box/exec/$pid/returncode" >"$T/rc/$i" 2>"$T/rc/$i.err" &
	pids+=($!)
	i=$((i + 1))
done <"$T/procs"
# Until every reader is parked in a FUSE read (or a minute per 1,000).
parked=0
for _ in $(seq 1 $((60 * (N / 1000 + 1)))); do
	parked=0
	for p in "${pids[@]}"; do
		# read, not $(cat ...): no fork per reader (10,000 a round)
		w=
		read -r w <"/proc/$p/wchan" 2>/dev/null || true
		case $w in
		*request_wait_answer* | *fuse*) parked=$((parked + 1)) ;;
		esac
	done
	[ "$parked" -eq "$N" ] && break
	sleep 1
done
# Then until both daemons' descriptors hold still (up to 10 s): the last
# arrivals' restarted calls are let go by sbxd within a second (it
# re-checks parked calls once a second); the bound is for waiting.
prev=
for _ in $(seq 1 10); do
	sleep 1
	cur="$(ls "/proc/$FS_PID/fd" | wc -l) $(ls "/proc/$SBXD_PID/fd" | wc -l)"
	[ "$cur" = "$prev" ] && break
	prev=$cur
done
nfd_fs=$(ls "/proc/$FS_PID/fd" | wc -l)
nfd_d=$(ls "/proc/$SBXD_PID/fd" | wc -l)
nth_fs=$(ls "/proc/$FS_PID/task" | wc -l)
nth_d=$(ls "/proc/$SBXD_PID/task" | wc -l)
note "$parked of $N readers parked; sbxfs: $nfd_fs0 -> $nfd_fs fds, $nth_fs0 -> $nth_fs threads; sbxd: $nfd_d0 -> $nfd_d fds, $nth_d0 -> $nth_d threads"
[ "$parked" -eq "$N" ] || fail "only $parked of $N readers parked in a read"
[ $((nfd_fs - nfd_fs0)) -le 16 ] || fail "sbxfs holds $((nfd_fs - nfd_fs0)) more descriptors for $N waits"
[ $((nfd_d - nfd_d0)) -le 16 ] || fail "sbxd holds $((nfd_d - nfd_d0)) more descriptors for $N waits"
[ $((nth_fs - nth_fs0)) -le 16 ] || fail "sbxfs runs $((nth_fs - nth_fs0)) more threads for $N waits"
[ $((nth_d - nth_d0)) -le 4 ] || fail "sbxd runs $((nth_d - nth_d0)) more threads for $N waits"
# Let every process go: a writer opening each sandbox's FIFO.
for b in $(seq 1 "$nbox"); do
	start_proc "w$b" 'exec 3>/tmp/go; sleep 1' >/dev/null
done
bad=0
for p in "${pids[@]}"; do
	wait "$p" || bad=$((bad + 1))
done
[ "$bad" -eq 0 ] || fail "$bad readers failed: $(cat "$T"/rc/*.err | sort | uniq -c | head -3)"
i=0
while read -r box pid code; do
	got=
	read -r got <"$T/rc/$i" || true
	[ "$got" = "$code" ] || fail "reader $i ($box process $pid) got '$got', want $code"
	i=$((i + 1))
done <"$T/procs"
note "all $N readers got their own process's code"
echo ok
