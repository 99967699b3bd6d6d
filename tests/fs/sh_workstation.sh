#!/usr/bin/env bash
# sbxfs as a workstation mounts it (daemonized, from mount(8) or fstab):
# a bad url= fails the mount command with a message (-o lazy mounts all
# the same); /proc/mounts shows the service URL as the source, commas and
# all; a daemonized sbxfs logs to log_file= (or to syslog's socket) with a
# line per failed operation and its errno, but none for a lookup of a
# missing name; after kill -9 the mount is gone (auto_unmount), not ENOTCONN.
. "$TESTS_DIR/fs/common.sh"
[ -c /dev/fuse ] || skip "no /dev/fuse"
command -v fusermount3 >/dev/null || skip "no fusermount3"
start_sbxd
mkdir -p "$MNT"

# Daemonized mounts of this test: unmounted in the trap whatever happens.
dmounts=()
LOGGER=
ws_cleanup() {
	local rc=$? m
	set +e
	for m in "${dmounts[@]}"; do
		mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null; }
	done
	[ -n "$LOGGER" ] && { kill "$LOGGER" 2>/dev/null; wait "$LOGGER" 2>/dev/null; }
	(exit $rc)
	_cleanup
}
trap ws_cleanup EXIT

# daemon_pid DIR: the pid of the sbxfs serving DIR (daemonized: not our
# child), not its auto_unmount keeper (a child of it, see fs/main.c).
daemon_pid() {
	local p pp
	for p in $(pgrep -x sbxfs); do
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF " $1 " || continue
		pp=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
		[ "$(cat "/proc/$pp/comm" 2>/dev/null)" = sbxfs ] && continue
		echo "$p"
		return 0
	done
	return 1
}

# 1. A mistyped url fails the mount, with a message and a non-zero exit,
# and leaves nothing mounted.
if "$SBXFS" "$MNT" -o "url=unix:$T/nosuch.sock" 2>"$T/bad.err"; then
	fail "a mount with a url nobody serves succeeded"
fi
grep -q "cannot reach the service" "$T/bad.err" || fail "no clear message: $(cat "$T/bad.err")"
grep -q "nosuch.sock" "$T/bad.err" || fail "message does not name the url: $(cat "$T/bad.err")"
grep -q "lazy" "$T/bad.err" || fail "message does not mention -o lazy: $(cat "$T/bad.err")"
mountpoint -q "$MNT" && fail "mounted despite the failed probe"
# Something that answers HTTP but is not a sandbox service (sbxd's socket
# is one; a plain file server is not).
python3 -u -m http.server --bind 127.0.0.1 0 --directory "$T/state" >"$T/http.log" 2>&1 &
HTTPD=$!
port=
for _ in $(seq 1 100); do
	port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$T/http.log" | head -1)
	[ -n "$port" ] && curl -s -o /dev/null "http://127.0.0.1:$port/" && break
	sleep 0.1
done
if [ -n "$port" ]; then
	if "$SBXFS" "$MNT" -o "url=http://127.0.0.1:$port" 2>"$T/http.err"; then
		fail "a mount on a plain web server succeeded"
	fi
	grep -q "no sandbox service answers" "$T/http.err" || fail "web server: $(cat "$T/http.err")"
else
	note "no port for the web server; that row skipped"
fi
kill "$HTTPD" 2>/dev/null || true
wait "$HTTPD" 2>/dev/null || true

# 2. -o lazy mounts without asking; the first use then fails.
dmounts+=("$MNT")
"$SBXFS" "$MNT" -o "url=unix:$T/nosuch.sock,lazy,log_file=$T/lazy.log" || fail "-o lazy did not mount"
mountpoint -q "$MNT" || fail "-o lazy: not mounted"
out=$(ls "$MNT" 2>&1) && fail "listing a mount of no service succeeded: $out"
printf '%s\n' "$out" | grep -q "Connection refused" || fail "lazy mount, first use: $out"
fusermount3 -u "$MNT"
wait_for 5 sh -c "! mountpoint -q '$MNT'"

# 3. The source: the URL in /proc/mounts, type fuse.sbxfs; a comma in the
# socket's path (a link to this test's dir) survives mount.fuse3 and
# libfuse's option parsing.
ln -s "$T" "$T/a,b"
CSOCK="$T/a,b/sbxd.sock"
if command -v mount.fuse3 >/dev/null; then
	PATH="$(dirname "$SBXFS"):$PATH" mount.fuse3 "unix:$CSOCK" "$MNT" -t fuse.sbxfs -o "log_file=$T/sbxfs.log" ||
		fail "mount.fuse3 with a comma in the source failed"
else
	"$SBXFS" "unix:$CSOCK" "$MNT" -o "log_file=$T/sbxfs.log" || fail "mount with a comma in the source failed"
fi
line=$(awk -v m="$MNT" '$2 == m' /proc/mounts)
eq "$(printf '%s\n' "$line" | awk '{print $1}')" "unix:$CSOCK" "source in /proc/mounts"
eq "$(printf '%s\n' "$line" | awk '{print $3}')" "fuse.sbxfs" "type in /proc/mounts"
df "$MNT" | grep -qF "unix:$CSOCK" || fail "df does not show the url: $(df "$MNT")"

# 4. The daemonized mount logs to log_file: that it serves, and one line
# per failed operation with its errno; a lookup of a missing name is not
# worth a line.
wait_grep "$T/sbxfs.log" "info: serving unix:$CSOCK on $MNT"
mkdir "$MNT/wbox"
write_fails "$MNT/wbox/ctl" "frobnicate" "Invalid argument"
wait_grep "$T/sbxfs.log" "notice: write /wbox/ctl by [^ ]*\[[0-9]*\]: Invalid argument (EINVAL)"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z sbxfs\[[0-9]+\]: notice: write /wbox/ctl' "$T/sbxfs.log" ||
	fail "log line lacks its time and pid: $(grep wbox/ctl "$T/sbxfs.log")"
ls "$MNT/no-such-box" 2>/dev/null && fail "a missing name was found"
cat "$MNT/wbox/status" >/dev/null
grep -q "no-such-box" "$T/sbxfs.log" && fail "a lookup of a missing name was logged: $(grep no-such-box "$T/sbxfs.log")"
rmdir "$MNT/wbox"

# 5. kill -9 of the daemon: auto_unmount removes the mount; the directory
# is usable again (no "Transport endpoint is not connected").
pid=$(daemon_pid "$MNT") || fail "no sbxfs process serves $MNT"
kill -9 "$pid"
# (mountpoint(1) is no judge here: a dead mount fails its stat too.)
wait_for 10 sh -c "! grep -q ' $MNT ' /proc/mounts"
ls "$MNT" >/dev/null || fail "the mount point is not usable after kill -9"
for p in $(pgrep -x sbxfs); do
	tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF " $MNT " && fail "an sbxfs ($p) outlived kill -9 of the daemon"
done

# The contrast, with -o noauto_unmount: the old ENOTCONN until fusermount3 -u.
M3=$T/mnt3
mkdir -p "$M3"
dmounts+=("$M3")
"$SBXFS" "$M3" -o "url=unix:$SOCK,noauto_unmount,log_file=$T/sbxfs.log" || fail "noauto_unmount mount"
pid=$(daemon_pid "$M3") || fail "no sbxfs process serves $M3"
kill -9 "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
grep -q " $M3 " /proc/mounts || fail "noauto_unmount: the mount went away by itself"
out=$(ls "$M3" 2>&1) && fail "noauto_unmount: a dead mount listed: $out"
printf '%s\n' "$out" | grep -q "not connected" || fail "noauto_unmount: $out"
fusermount3 -u "$M3"

# 6. Without log_file, a daemonized sbxfs logs to syslog: here its socket
# is this test's own datagram socket (-o syslog_socket=), read by python.
LOGSOCK=$T/log.sock
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536) + b"\n")
' "$LOGSOCK" "$T/syslog.txt" &
LOGGER=$!
wait_for 5 test -S "$LOGSOCK"
"$SBXFS" "$MNT" -o "url=unix:$SOCK,syslog_socket=$LOGSOCK" || fail "daemonized mount with syslog failed"
wait_grep "$T/syslog.txt" "^<30>[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]* sbxfs\[[0-9]*\]: info: serving unix:$SOCK on $MNT"
mkdir "$MNT/sbox"
write_fails "$MNT/sbox/ctl" "frobnicate" "Invalid argument"
wait_grep "$T/syslog.txt" "^<29>.* sbxfs\[[0-9]*\]: notice: write /sbox/ctl by .*(EINVAL)"
rmdir "$MNT/sbox"
fusermount3 -u "$MNT"
wait_for 10 sh -c "! mountpoint -q '$MNT'"
echo ok
