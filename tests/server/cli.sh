#!/bin/bash
# The command line: --help, --version, bad options, daemonizing (the parent
# returns once the daemon serves), one sbxd per state dir, stale sockets
# replaced and live ones refused, a clean stop that leaves no mounts.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"

# (the whole text first: grep -q would close the pipe on a help longer
# than one stdio buffer, and pipefail would call sbxd's SIGPIPE a failure)
"$SBXD" --help >"$T/help" || fail "--help exit status"
grep -q -- '--state-dir' "$T/help" || fail "--help"
"$SBXD" --version | grep -qE '^sbxd [0-9]' || fail "--version"
rc=0; "$SBXD" --bogus 2>/dev/null || rc=$?
expect "bad option" "$rc" 2
rc=0; "$SBXD" --max-sandboxes 0 2>/dev/null || rc=$?
expect "bad number" "$rc" 2
rc=0; "$SBXD" --retention x 2>/dev/null || rc=$?
expect "bad retention" "$rc" 2

# daemonized: returns 0 when it serves
"$SBXD" --socket "$T/d.sock" --state-dir "$T/dstate" 2>>"$T/d.log"
[ -S "$T/d.sock" ] || fail "no socket after the daemon started"
expect "daemon serves" "$(curl -s --unix-socket "$T/d.sock" -o /dev/null -w '%{http_code}' http://sbxd/v1/extensions)" 200
dpid=$(pgrep -f -- "--socket $T/d.sock" | head -1)
[ -n "$dpid" ] || fail "daemon pid not found"
expect "daemon is a session leader" "$(ps -o sid= -p "$dpid" | tr -d ' ')" "$dpid"
# a second sbxd on the same state dir refuses
rc=0; "$SBXD" -f --socket "$T/e.sock" --state-dir "$T/dstate" 2>"$T/second.err" || rc=$?
expect "second sbxd" "$rc" 1
grep -q "in use" "$T/second.err" || fail "second sbxd message: $(cat "$T/second.err")"
# a live socket is not taken over
rc=0; "$SBXD" -f --socket "$T/d.sock" --state-dir "$T/other" 2>"$T/live.err" || rc=$?
expect "live socket" "$rc" 1
kill -TERM "$dpid"
for _ in $(seq 1 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$dpid" 2>/dev/null && fail "daemon did not stop on SIGTERM"
[ ! -e "$T/d.sock" ] || fail "socket left after a clean stop"

# stale socket (no one listening) is replaced
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
start_sbxd
expect "socket mode" "$(stat -c %a "$SOCK")" 600
create "$(sbx_body name=m -- sleep 60)" >/dev/null
create "$(sbx_body name=n)" >/dev/null
grep -q "$STATE" /proc/mounts || note "runtime keeps no mounts under the state dir"
stop_sbxd
if grep -q "$STATE" /proc/mounts; then
	fail "mounts left under the state dir: $(grep "$STATE" /proc/mounts | head -3)"
fi
note "cli ok"
