#!/bin/bash
# The exec hot path (issue 14, hotpath): what a command inherits is the
# same after init unmapped sbxd's other libraries (only
# fds 0-2, the sandbox's capability set, its seccomp filter and
# no_new_privs, for every process, the first and the later ones), that
# trim is in effect (init maps only sbxd, libc and the loader; plain
# builds only: sanitizer builds keep every library), and a start that lingers for its
# process's exit (--exit-linger-us) answers it ended with its code and
# output, still answers a long one as running, and applies the other
# processes' exits it reads meanwhile (their waiters are answered).
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"

field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
start() { api POST "/v1/sandboxes/$id/processes" -d "$1"; }
waitp() { api GET "/v1/sandboxes/$id/processes/$1?waitSeconds=20"; }
ms() { echo $(($(date +%s%N) / 1000000)); }

# A long linger makes "answered ended" certain on a loaded machine.
start_sbxd --exit-linger-us 1000000
id=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')

# 1. Every process: fds 0 1 2 (and ls's own directory fd 3), the kept
# capabilities (init.c keep_caps: Docker's default set minus MKNOD and
# NET_RAW), seccomp filter mode, no_new_privs.
want_caps=$(python3 -c 'print("%016x" % sum(1 << c for c in (0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 29, 31)))')
probe='ls /proc/self/fd | tr "\n" " "; grep -E "^(CapEff|CapPrm|CapBnd|Seccomp|NoNewPrivs):" /proc/self/status | tr -s "\t\n" "  "'
for i in 1 2 3 4 5; do
	out=$(api POST "/v1/sandboxes/$id:exec" -d "{\"command\":[\"sh\",\"-c\",$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$probe")]}")
	got=$(b64d "$(jget "$out" 'j.get("stdout", "")')")
	expect "process $i: fds and status" "$got" \
		"0 1 2 3 CapPrm: $want_caps CapEff: $want_caps CapBnd: $want_caps NoNewPrivs: 1 Seccomp: 2 "
done
note "5 processes: fds 0-2 only, caps $want_caps, seccomp 2, no_new_privs 1"

# 2. The trim is in effect: init maps no library but libc and the loader.
init=$(pgrep -P "$SBXD_PID" -x sbx-init | head -1)
[ -n "$init" ] || fail "no sbx-init under sbxd $SBXD_PID"
maps=$(grep -c . "/proc/$init/maps")
files=$(awk '$5 != 0 {print $4 " " $5}' "/proc/$init/maps" | sort -u | wc -l)
note "init $init: $maps mappings of $files files: $(awk '$5 != 0 {n = split($6, a, "/"); print a[n]}' "/proc/$init/maps" | sort -u | tr '\n' ' ')"
if [ -n "${SBX_VALGRIND:-}" ]; then
	note "under valgrind: init keeps every library (valgrind's preloaded one runs its calls)"
	[ "$files" -gt 10 ] || fail "init under valgrind unmapped its libraries ($files files left)"
elif ldd "$SBXD" | grep -qE 'libasan|libtsan'; then
	note "sanitizer build: init keeps every library (by design)"
	[ "$files" -gt 10 ] || fail "a sanitizer build's init unmapped its libraries ($files files left)"
else
	[ "$files" -le 3 ] || fail "init still maps $files files (want sbxd, libc, the loader)"
	[ "$maps" -lt 100 ] || fail "init still has $maps mappings"
fi

# 3. A short process's start answers it ended, with its code and output.
out=$(start '{"command":["sh","-c","echo hello; echo oops >&2; exit 3"]}')
expect "start of a short process: state" "$(echo "$out" | field state)" PROCESS_STATE_EXITED
expect "start of a short process: exit code" "$(echo "$out" | field exitCode)" 3
p=$(echo "$out" | field processId)
expect "its stdout" "$(api GET "/v1/sandboxes/$id/processes/$p/stdout")" hello
expect "its stderr" "$(api GET "/v1/sandboxes/$id/processes/$p/stderr")" oops
expect "its wait" "$(waitp "$p" | field exitCode)" 3
# :exec too
out=$(api POST "/v1/sandboxes/$id:exec" -d '{"command":["sh","-c","echo hi; exit 4"]}')
expect ":exec of a short process: exit code" "$(jget "$out" 'j["exitCode"]')" 4
expect ":exec of a short process: stdout" "$(b64d "$(jget "$out" 'j["stdout"]')")" "hi"

# 4. A long one is answered running once the linger is over (1 s here).
t0=$(ms)
out=$(start '{"command":["sleep","30"]}')
t1=$(ms)
expect "start of a long process: state" "$(echo "$out" | field state)" PROCESS_STATE_RUNNING
[ $((t1 - t0)) -ge 900 ] || fail "the start of sleep 30 answered after $((t1 - t0)) ms, before its 1 s linger"
long=$(echo "$out" | field processId)

# 5. Another process's exit read during a linger is applied: its waiter is
# answered, and the linger ends with it.
a=$(start '{"command":["sleep","0.3"]}' | field processId) # answered after ~1 s: already ended
b=$(start '{"command":["sh","-c","sleep 2"]}' | field processId)
a2=$(start '{"command":["sh","-c","sleep 1.5"]}' | field processId) # running
waitp "$a2" >"$T/a2.json" &
wpid=$!
t0=$(ms)
c=$(start '{"command":["sh","-c","sleep 20"]}' | field processId) # lingers while b (2 s) and a2 (1.5 s) end
t1=$(ms)
wait "$wpid"
expect "waiter of $a2 answered" "$(field state <"$T/a2.json")" PROCESS_STATE_EXITED
expect "$a ended" "$(waitp "$a" | field state)" PROCESS_STATE_EXITED
expect "$b ended" "$(waitp "$b" | field state)" PROCESS_STATE_EXITED
note "start of $c: $((t1 - t0)) ms (its linger ended at the first other exit)"
[ $((t1 - t0)) -lt 1000 ] || note "slow machine: the start took $((t1 - t0)) ms"
api POST "/v1/sandboxes/$id/processes/$long:signal" -d '{"signal":9}' >/dev/null
api POST "/v1/sandboxes/$id/processes/$c:signal" -d '{"signal":9}' >/dev/null
stop_sbxd

# 6. --exit-linger-us 0: a start never waits, a short process is answered
# running (the loop applies its exit afterwards).
start_sbxd --exit-linger-us 0
id=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
out=$(start '{"command":["true"]}')
expect "no linger: state at start" "$(echo "$out" | field state)" PROCESS_STATE_RUNNING
expect "no linger: its wait" "$(waitp "$(echo "$out" | field processId)" | field state)" PROCESS_STATE_EXITED
stop_sbxd
echo "# hotpath ok"
