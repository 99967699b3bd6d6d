# shellcheck shell=bash
# The attacks of a sandbox's root on the host, for the user-namespace modes
# (issue 16), checked on the HOST: sourced by sh_rootless.sh and
# sh_unprivileged.sh after fs/common.sh. Needs as() (run as a uid) from the
# caller.
#
# host_attacks UID MOUNT BOX WANT: in sandbox BOX of UID's mount MOUNT,
# uid 0 must be host uid WANT (never 0); a root-owned host file bound into
# the sandbox (tests/fs/expose.py, what an escape or a careless bind would
# give) stays unwritten; host processes, one of them of uid WANT itself,
# survive kill -9 of every pid; a listener on the host's 127.0.0.1 sees
# no connection.
_inbox() { # _inbox UID MOUNT BOX CMD: runs CMD there, prints its returncode
	as "$1" sh -c "printf '%s\n' \"\$1\" > '$2/$3/exec/new'" sh "$4"
	as "$1" cat "$2/$3/exec/last/returncode"
}
host_attacks() {
	local u=$1 um=$2 box=$3 want=$4 mark hp v rc
	mark="7777.$$$u"
	as "$u" sh -c "echo 'sleep $mark' > '$um/$box/exec/new'"
	wait_for 10 pgrep -f -x "sleep $mark" >/dev/null
	hp=$(pgrep -f -x "sleep $mark" | head -n 1)
	eq "$(stat -c %u "/proc/$hp")" "$want" "host uid of root's process in $box of $u"
	eq "$(awk '/^Uid:/ {print $2}' "/proc/$hp/status")" "$want" "real uid on the host of $u's root"
	# A host file of host root's, bound over /victim inside.
	v=$T/victim-$u
	printf 'host-owned\n' >"$v"
	chmod 0644 "$v"
	local sum
	sum=$(sha256sum <"$v")
	eq "$(_inbox "$u" "$um" "$box" 'touch /victim')" 0 "make /victim"
	python3 "$TESTS_DIR/fs/expose.py" "$hp" "$v" /victim || fail "could not expose $v"
	eq "$(_inbox "$u" "$um" "$box" 'grep -qx host-owned /victim')" 0 "the host file shows inside (else the test tries nothing)"
	for a in 'echo pwned > /victim' 'echo pwned >> /victim' 'chmod 0666 /victim' 'chown 0:0 /victim' \
		'truncate -s 0 /victim' 'python3 -c "import os; os.open(\"/victim\", os.O_WRONLY)"'; do
		rc=$(_inbox "$u" "$um" "$box" "$a")
		[ "$rc" != 0 ] || fail "$u's sandbox root did '$a' on a host root file"
	done
	eq "$(sha256sum <"$v")" "$sum" "host file content after the attacks of $u's sandbox"
	eq "$(stat -c '%u %g %a' "$v")" "0 0 644" "host file owner and mode after the attacks"
	# Host processes: one of root's, one of uid WANT (the very uid root
	# inside is): neither can be named nor killed from inside.
	sleep 3001 &
	local hroot=$!
	setpriv --reuid="$want" --regid="$want" --clear-groups sleep 3002 &
	local hsame=$!
	_inbox "$u" "$um" "$box" "kill -9 $hroot $hsame; for p in \$(seq 2 400); do kill -9 \$p; done; kill -9 -1" >/dev/null || true
	sleep 0.3
	kill -0 "$hroot" 2>/dev/null || fail "$u's sandbox killed a host root process"
	kill -0 "$hsame" 2>/dev/null || fail "$u's sandbox killed a host process of its own host uid $want"
	kill "$hroot" "$hsame" 2>/dev/null
	wait "$hroot" "$hsame" 2>/dev/null || true
	# The host's loopback: a listener that logs every connection.
	local port=$((20000 + RANDOM % 20000)) log=$T/net-$u.log
	: >"$log"
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
' "$port" "$log" &
	local lp=$!
	wait_for 5 test -e "$log.up"
	rc=$(_inbox "$u" "$um" "$box" "python3 -c '
import socket
for h in (\"127.0.0.1\", \"10.0.2.2\"):
    try:
        socket.create_connection((h, $port), timeout=2); print(\"reached\", h)
    except OSError as e:
        print(\"refused\", h, e)
'")
	as "$u" cat "$um/$box/exec/last/stdout" | grep -q reached && fail "$u's sandbox reached the host's loopback"
	[ -s "$log" ] && fail "host listener saw: $(cat "$log")"
	kill "$lp" 2>/dev/null
	wait "$lp" 2>/dev/null || true
	return 0
}
