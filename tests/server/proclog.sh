#!/bin/bash
# The process log (issue 14): a sandbox's process records are lines
# appended to STATE/sandboxes/ID/procs.log, so starting processes makes no
# file per process (no proc-N.json, and the empty spools of a finished
# process serve the next one); records and output survive a kill -9 and a
# torn last line (a power cut during an append); a log far longer than
# its processes is compacted; a recycled spool never shows one process's
# output as another's; no cap on starts: past --keep-processes the oldest
# ended processes are forgotten (record and spools), also at a load.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd
id=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
dir=$STATE/sandboxes/$id

# (sed, not python, for the many small answers: the test must stay quick on
# a loaded machine)
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
start() { api POST "/v1/sandboxes/$id/processes" -d "$1" | field processId; }
waitp() { api GET "/v1/sandboxes/$id/processes/$1?waitSeconds=20"; }

# warm up: the first processes may take spools from the pool
for i in 1 2 3; do waitp "$(start '{"command":["true"]}')" >/dev/null; done
before=$(find "$dir" | wc -l)
for i in $(seq 1 25); do
	p=$(start '{"command":["true"]}')
	expect "true $p" "$(waitp "$p" | field state)" PROCESS_STATE_EXITED
done
after=$(find "$dir" | wc -l)
note "files in the sandbox dir: $before before 25 silent processes, $after after"
[ "$after" -le "$before" ] || fail "25 processes without output added $((after - before)) files to $dir: $(ls -a "$dir" | head -20)"
[ -z "$(find "$dir" -name 'proc-*.json')" ] || fail "a proc-N.json was written: $(ls "$dir")"
[ -s "$dir/procs.log" ] || fail "no procs.log in $dir"

# silent, loud, silent...: a recycled spool holds only its own process's bytes
declare -A want
for i in $(seq 1 8); do
	if [ $((i % 2)) = 0 ]; then
		p=$(start "{\"command\":[\"sh\",\"-c\",\"echo out$i; echo err$i >&2; exit $i\"]}")
		want[$p]="out$i err$i $i"
	else
		p=$(start "{\"command\":[\"sh\",\"-c\",\"exit $i\"]}")
		want[$p]="  $i"
	fi
	waitp "$p" >/dev/null
done
check_all() {
	local p got
	for p in "${!want[@]}"; do
		got="$(api GET "/v1/sandboxes/$id/processes/$p/stdout") $(api GET "/v1/sandboxes/$id/processes/$p/stderr") $(api GET "/v1/sandboxes/$id/processes/$p" | field exitCode)"
		expect "$1: process $p (stdout stderr code)" "$got" "${want[$p]}"
	done
}
check_all "before the crash"
last=$p

# kill -9, then a save torn by a power cut: half a line at the end
kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
printf '{"processId":"%s","command":["tr' $((last + 1)) >>"$dir/procs.log"
start_sbxd
check_all "after kill -9 and a torn line"
grep -q 'cutting a torn last line' "$T/sbxd.log" || fail "the torn line was not reported"
expect "the log ends with a whole line" "$(tail -c 1 "$dir/procs.log" | od -An -c | tr -d ' ')" '\n'
stop_sbxd
start_sbxd
check_all "after a second restart"
expect "no unreadable line" "$(grep -c 'unreadable line' "$T/sbxd.log" || true)" 0

# a log much longer than its processes (lines repeated by hand) is compacted
# at the next save; the record each process had stays
# the first sandbox is FAILED after its restart and saves nothing more: in
# a second one, a process still running at a kill -9 is what the next
# load saves (killed, "sbxd restarted")
id=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
dir=$STATE/sandboxes/$id
p=$(start '{"command":["sleep","100"]}')
kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
line=$(grep "\"processId\":\"$p\"" "$dir/procs.log" | tail -1)
for i in $(seq 1 600); do printf '%s\n' "$line"; done >>"$dir/procs.log"
long=$(wc -l <"$dir/procs.log")
start_sbxd # marks process p killed ("sbxd restarted"): a save, which compacts
short=$(wc -l <"$dir/procs.log")
note "procs.log: $long lines before the save, $short after"
[ "$short" -le 4 ] || fail "procs.log not compacted: $long -> $short lines"
pr=$(api GET "/v1/sandboxes/$id/processes/$p")
expect "killed by the restart" "$(jget "$pr" 'j["state"]')" PROCESS_STATE_KILLED
expect "its reason" "$(jget "$pr" 'j["stateReason"]')" "sbxd restarted"
expect "one process listed after the compaction" "$(jget "$(api GET "/v1/sandboxes/$id/processes")" 'len(j["processes"])')" 1

# --keep-processes 5: starts go on past it, the oldest ended ones go
stop_sbxd
start_sbxd --keep-processes 5
id=$(create '{"spec":{"containers":[{"name":"main","image":"default"}]}}')
dir=$STATE/sandboxes/$id
for i in $(seq 1 12); do
	p=$(start "{\"command\":[\"sh\",\"-c\",\"echo out$i\"]}")
	expect "process $i's id" "$p" "$i"
	waitp "$p" >/dev/null
done
listed=$(jget "$(api GET "/v1/sandboxes/$id/processes")" '" ".join(p["processId"] for p in j["processes"])')
expect "kept processes" "$listed" "8 9 10 11 12"
code=$(api GET "/v1/sandboxes/$id/processes/3" -o /dev/null -w '%{http_code}')
expect "a forgotten process" "$code" 404
expect "a kept one's output" "$(api GET "/v1/sandboxes/$id/processes/9/stdout")" out9
[ ! -e "$dir/3.stdout" ] || fail "a forgotten process's spool stayed: $(ls "$dir")"
expect "spools left" "$(find "$dir" -name '*.stdout' | wc -l)" 5
kill -KILL "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
start_sbxd --keep-processes 5
listed=$(jget "$(api GET "/v1/sandboxes/$id/processes")" '" ".join(p["processId"] for p in j["processes"])')
expect "kept after kill -9 (the log still has the forgotten ones' lines)" "$listed" "8 9 10 11 12"
expect "a kept one's output after kill -9" "$(api GET "/v1/sandboxes/$id/processes/12/stdout")" out12
note "proclog ok"
