#!/usr/bin/env bash
# A rootless sbxd (issue 16): user nobody starts sbxd itself, with no flag
# but --no-limits (this machine gives users no cgroup), and mounts sbxfs
# with no URL: sbxfs finds nobody's own sbxd under XDG_RUNTIME_DIR. The
# seed's flows run through that mount; what a rootless sbxd cannot do is
# refused by name (no cgroup: at start without --no-limits and for specs
# with limits; egress while /dev/net/tun is closed to users); egress
# through slirp4netns running as nobody, which never reaches the host; then
# the attacks of hostattack.sh, checked on the host: root in the sandbox is
# nobody there. /dev/fuse, /dev/net/tun and fusermount3 are opened to users
# for the test (distributions ship them so; this machine may not) and put
# back afterwards, as in sh_unprivileged.sh.
. "$TESTS_DIR/fs/common.sh"
. "$TESTS_DIR/fs/hostattack.sh"
command -v setpriv >/dev/null || skip "no setpriv"
FM=$(command -v fusermount3) || skip "no fusermount3"
[ -c /dev/fuse ] || skip "no /dev/fuse"
U=$(id -u nobody 2>/dev/null) || skip "no user nobody"
G=$(id -g nobody)
[ "$U" != 0 ] || skip "nobody is root here"
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"; }
XDG=$T/xdg
UH=$T/home
UENV=(env -u XDG_DATA_HOME -u CWSANDBOX_BASE_URL "XDG_RUNTIME_DIR=$XDG" "HOME=$UH")
# Tests that open device modes take turns: one that started while another
# had /dev/fuse at 0666 would take that for the mode to put back.
exec 9>/tmp/sbxtest-devmodes.lock
flock 9
FUSE_MODE=$(stat -c %a /dev/fuse)
TUN_MODE=
[ -c /dev/net/tun ] && TUN_MODE=$(stat -c %a /dev/net/tun)
FM_SUID=1
[ -u "$FM" ] || FM_SUID=0
UPID=
UFS=
_rcleanup() {
	local rc=$?
	set +e
	as "$U" fusermount3 -u "$T/um" 2>/dev/null || fusermount3 -u -z "$T/um" 2>/dev/null
	[ -n "$UFS" ] && wait "$UFS" 2>/dev/null
	if [ -n "$UPID" ]; then kill -TERM "$UPID" 2>/dev/null; wait "$UPID" 2>/dev/null; fi
	chmod "$FUSE_MODE" /dev/fuse
	[ -z "$TUN_MODE" ] || chmod "$TUN_MODE" /dev/net/tun
	[ "$FM_SUID" = 1 ] || chmod u-s "$FM"
	(exit $rc)
	_cleanup
}
trap _rcleanup EXIT
chmod 0666 /dev/fuse
[ "$FM_SUID" = 1 ] || chmod u+s "$FM"
chmod o+x "$T"
mkdir -p "$XDG" "$UH" "$T/um"
chmod 0700 "$XDG"
chown "$U:$G" "$XDG" "$UH" "$T/um"
# The user's own image: a copy of the default image that nobody owns (a
# rootless sbxd maps only its own uid: files of host root's would be
# nobody's inside, and root there could not change them).
ensure_default_image
cp -a "$SBX_IMAGE_DIR/default" "$T/uimg-default"
mkdir "$T/uimg"
mv "$T/uimg-default" "$T/uimg/default"
chown -R "$U:$G" "$T/uimg"

# Refused at start, by name: no cgroup without --no-limits.
rc=0
as "$U" "${UENV[@]}" "$SBXD" -f --image-dir "$T/uimg" >"$T/refused.log" 2>&1 || rc=$?
eq "$rc" 1 "rootless sbxd without a cgroup and without --no-limits"
grep -q "limits unenforceable; start with --no-limits" "$T/refused.log" || fail "no clear refusal: $(cat "$T/refused.log")"

# setpriv itself, not the as() function: $! must be sbxd's pid, not a
# subshell's, for the SIGTERM at the end.
setpriv --reuid="$U" --regid="$G" --clear-groups "${UENV[@]}" "$SBXD" -f --no-limits --image-dir "$T/uimg" \
	>>"$T/sbxd.log" 2>&1 &
UPID=$!
USOCK=$XDG/sbxd/sbxd.sock
wait_for 10 grep -q "warning: --no-limits" "$T/sbxd.log"
test -S "$USOCK" || fail "no socket at $USOCK"
grep -q "rootless: every sandbox is a user namespace where uid $U is root" "$T/sbxd.log" || fail "no rootless line in the log"
grep -q "warning: --no-limits: no cgroup" "$T/sbxd.log" || fail "the log does not say limits are off"
eq "$(stat -c '%U %a' "$USOCK")" "nobody 600" "rootless socket owner and mode"
[ -d "$UH/.local/share/sbxd/sandboxes" ] || fail "no state dir under HOME/.local/share"
eq "$(stat -c %U "$UH/.local/share/sbxd")" nobody "state dir owner"

# sbxfs with no URL finds nobody's own sbxd.
setpriv --reuid="$U" --regid="$G" --clear-groups "${UENV[@]}" "$SBXFS" "$T/um" -f >>"$T/sbxfs.log" 2>&1 &
UFS=$!
wait_for 10 grep -q " $T/um " /proc/mounts
grep " $T/um " /proc/mounts | grep -q "^unix:$USOCK " || fail "mounted from: $(grep " $T/um " /proc/mounts)"
UM=$T/um
# The seed's flows: create, exec, stdout, returncode, files.
as "$U" mkdir "$UM/ubox"
eq "$(as "$U" cat "$UM/ubox/status")" running "status"
as "$U" sh -c "echo 'python3 -c \"print(6*7)\"' > '$UM/ubox/exec/new'"
eq "$(as "$U" cat "$UM/ubox/exec/last/stdout")" 42 "python3 stdout"
eq "$(as "$U" cat "$UM/ubox/exec/last/returncode")" 0 "returncode"
as "$U" sh -c "echo 'exit 3' > '$UM/ubox/exec/new'"
eq "$(as "$U" cat "$UM/ubox/exec/last/returncode")" 3 "exit code 3"
as "$U" sh -c "echo from-the-host > '$UM/ubox/files/tmp/in'"
as "$U" sh -c "echo 'cat /tmp/in; id -u; echo made > /root/out; ls -ln /root/out' > '$UM/ubox/exec/new'"
out=$(as "$U" cat "$UM/ubox/exec/last/stdout")
eq "$(printf '%s\n' "$out" | sed -n 1,2p | tr '\n' ' ')" "from-the-host 0 " "file written through files/, and root inside"
printf '%s\n' "$out" | sed -n 3p | grep -q ' 0 *0 ' || fail "a file root made is not root's inside: $out"
eq "$(as "$U" cat "$UM/ubox/files/root/out")" made "file read through files/"
# A file made through files/ is root's inside and the user's on the host
# and through the mount (sbxd shows the box's ids, not its own host uid).
as "$U" sh -c "echo 'stat -c \"%u %g\" /tmp/in' > '$UM/ubox/exec/new'"
eq "$(as "$U" cat "$UM/ubox/exec/last/stdout")" "0 0" "owner inside of a file made through files/"
eq "$(as "$U" stat -c '%u %g' "$UM/ubox/files/tmp/in")" "$U $G" "owner through the mount of a file made there"
# Limits and egress a rootless sbxd cannot give: refused by name.
uapi() { as "$U" curl -sS --max-time 30 --unix-socket "$USOCK" "$@"; }
r=$(uapi -X POST http://sbxd/v1/sandboxes -d "$(sbx_body memory=64Mi)")
printf '%s' "$r" | grep -q "cannot be enforced by this rootless sbxd" || fail "memory limit not refused: $r"
EGRESS=$(sbx_body net='{"egress": [{"any": true}]}')
if [ -n "$TUN_MODE" ]; then
	chmod 0600 /dev/net/tun
	r=$(uapi -X POST http://sbxd/v1/sandboxes -d "$EGRESS")
	printf '%s' "$r" | grep -q "egress from a rootless sbxd needs /dev/net/tun open to users" || fail "egress without tun: $r"
	# Egress through a stack of nobody's own: out through eth0, never to
	# the host (its 127.0.0.1 listener, the stack's gateway 10.0.2.2).
	chmod 0666 /dev/net/tun
	r=$(uapi -X POST http://sbxd/v1/sandboxes -d "$EGRESS")
	eid=$(printf '%s' "$r" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["sandboxId"] if j["status"]["state"] == "STATE_RUNNING" else "")')
	[ -n "$eid" ] || fail "egress sandbox: $r"
	pgrep -u "$U" -f "slirp4netns .*--userns-path" >/dev/null || fail "no slirp4netns of $U's"
	port=$((20000 + RANDOM % 20000))
	python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); s.settimeout(8)
open(sys.argv[2] + ".up", "w").close()
try:
    while True:
        c, a = s.accept(); open(sys.argv[2], "a").write("connect from %s\n" % (a,)); c.close()
except socket.timeout:
    pass
' "$port" "$T/enet.log" &
	ELP=$!
	wait_for 5 test -e "$T/enet.log.up"
	r=$(uapi -X POST "http://sbxd/v1/sandboxes/$eid:exec" -d '{"command":["python3","-c","import socket\nprint(open(\"/proc/net/route\").read().split()[11])\nfor h in (\"127.0.0.1\", \"10.0.2.2\"):\n  try:\n    socket.create_connection((h, '"$port"'), timeout=2); print(\"reached\", h)\n  except OSError as e:\n    print(\"refused\", h)"]}')
	out=$(printf '%s' "$r" | python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(sys.stdin)["stdout"]).decode())')
	eq "$(printf '%s\n' "$out" | tr '\n' ' ')" "eth0 refused 127.0.0.1 refused 10.0.2.2 " "egress sandbox's route and host reach"
	wait "$ELP" 2>/dev/null || true
	[ ! -s "$T/enet.log" ] || fail "host listener saw: $(cat "$T/enet.log")"
	uapi -X DELETE "http://sbxd/v1/sandboxes/$eid" >/dev/null
	wait_for 10 sh -c "! pgrep -u $U -f 'slirp4netns .*--userns-path' >/dev/null"
	chmod "$TUN_MODE" /dev/net/tun
fi
# Another user (daemon) cannot open nobody's socket.
if D=$(id -u daemon 2>/dev/null); then
	as "$D" curl -s -o /dev/null --max-time 5 --unix-socket "$USOCK" http://sbxd/v1/sandboxes && fail "daemon reached nobody's rootless sbxd"
fi

host_attacks "$U" "$UM" ubox "$U"

as "$U" rmdir "$UM/ubox"
as "$U" fusermount3 -u "$UM"
wait "$UFS" 2>/dev/null || true
UFS=
kill -TERM "$UPID"
rc=0; wait "$UPID" || rc=$?
eq "$rc" 0 "exit status of the rootless sbxd after SIGTERM"
grep -q "sbxd: info: stopped" "$T/sbxd.log" || fail "rootless sbxd did not stop cleanly"
UPID=
echo ok
