#!/usr/bin/env bash
# sbxd under systemd: socket activation by the sd_listen_fds protocol
# (LISTEN_PID/LISTEN_FDS, the socket as fd 3; here a python stand-in for
# systemd makes the socket and execs sbxd), the socket surviving sbxd's
# stop for the next start, a hand-over meant for another process ignored,
# and the shipped units passing `systemd-analyze verify`.
. "$TESTS_DIR/lib.sh"
command -v python3 >/dev/null || skip "no python3"
mkdir -p "$STATE"
ASOCK=$T/act/sbxd.sock
mkdir -p "$T/act"

# activate SOCKET CMD...: listens on SOCKET, then execs CMD with it as fd 3.
activate() {
	exec python3 - "$@" <<'PY'
import os, socket, sys
path, argv = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if os.path.exists(path):
    os.unlink(path)
s.bind(path)
os.chmod(path, 0o600)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
    s.close()
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(argv[0], argv)
PY
}

ensure_default_image
activate "$ASOCK" "$SBXD" -f --state-dir "$STATE" --image-dir "$SBX_IMAGE_DIR" >>"$T/sbxd.log" 2>&1 &
SBXD_PID=$!
SOCK=$ASOCK
wait_for 20 curl -s --max-time 1 --unix-socket "$ASOCK" -o /dev/null http://sbxd/v1/extensions
grep -q "serving on $ASOCK (from systemd)" "$T/sbxd.log" || fail "sbxd did not say it took the socket: $(cat "$T/sbxd.log")"
id=$(api POST /v1/sandboxes -d "$(sbx_body)" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sandboxId"])')
[ -n "$id" ] || fail "no sandbox through the activated socket"
api DELETE "/v1/sandboxes/$id?gracePeriodSeconds=0" >/dev/null
stop_sbxd
# systemd keeps the socket for the next start: sbxd must not remove it.
[ -S "$ASOCK" ] || fail "sbxd removed systemd's socket at stop"

# A hand-over for another pid (a parent that exec'd us) is not ours: sbxd
# makes its own --socket.
LISTEN_PID=1 LISTEN_FDS=1 "$SBXD" -f --socket "$T/own.sock" --state-dir "$STATE" >>"$T/sbxd.log" 2>&1 &
SBXD_PID=$!
SOCK=$T/own.sock
wait_for 20 curl -s --max-time 1 --unix-socket "$T/own.sock" -o /dev/null http://sbxd/v1/extensions
stop_sbxd

# Two sockets: refused with a message.
python3 - "$SBXD" "$STATE" "$T/two.log" <<'PY'
import os, socket, subprocess, sys
a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
os.dup2(a.fileno(), 3); os.dup2(b.fileno(), 4)
os.set_inheritable(3, True); os.set_inheritable(4, True)
pid = os.fork()
if pid == 0:
    os.environ.update(LISTEN_FDS="2", LISTEN_PID=str(os.getpid()))
    out = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 2)
    os.execv(sys.argv[1], [sys.argv[1], "-f", "--state-dir", sys.argv[2]])
_, st = os.waitpid(pid, 0)
sys.exit(0 if os.WEXITSTATUS(st) != 0 else 1)
PY
[ $? -eq 0 ] || fail "sbxd accepted two sockets"
grep -q "exactly one" "$T/two.log" || fail "no message for two sockets: $(cat "$T/two.log")"

# The units as shipped (the service's binary path pointed at this build).
if command -v systemd-analyze >/dev/null; then
	U=$T/units
	mkdir -p "$U"
	sed "s|@sbindir@|$(dirname "$SBXD")|" "$TESTS_DIR/../dist/systemd/sbxd.service.in" >"$U/sbxd.service"
	cp "$TESTS_DIR/../dist/systemd/sbxd.socket" "$TESTS_DIR/../dist/systemd/mnt-sbx.mount" "$U/"
	out=$(cd "$U" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no ./sbxd.socket ./sbxd.service ./mnt-sbx.mount 2>&1) ||
		fail "systemd-analyze verify: $out"
	[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
else
	note "no systemd-analyze: units not verified"
fi
echo ok
