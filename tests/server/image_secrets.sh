#!/bin/bash
# The attacker inside a sandbox reaches for the host's secrets; the checks
# are on the host's own files (random tokens it planted), never on the
# sandbox's word. Planted: marker files in /root, /home, /tmp, /var/tmp;
# this sbxd's state dir and another live sbxd's state dir, both outside
# /tmp (as /var/lib/sbxd would be), each holding a marker and the spool of
# a victim sandbox that printed a token; the other sbxd's socket.
# 1. On the default image none of it shows: the paths, a grep of the whole
#    tree, a search by name; writes to the host's paths land nowhere.
# 2. On the "host" image (sbxd --allow-host-image) the same are masked, and
#    so are /etc/shadow*, /etc/gshadow*, /etc/sudoers*, /etc/ssh, /root,
#    /home and /run (each is empty inside while it is not on the host).
# Also: the state dirs are 0700, their spools and records 0600.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"

[ -n "$SBX_IMAGE_DIR" ] || fail "SBX_IMAGE_DIR not set (meson sets it)"
tok=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
secret=SBXSECRET-$tok
# Outside /tmp: the private /tmp of every sandbox must not be what hides them.
X=$(mktemp -d "$(host_dir)/sbxtest-secrets.XXXXXX")
STATE=$X/state
OTHER=$X/other
OSOCK=$X/other.sock
OTHER_PID=
markers=(/root/.sbxtest-$tok /home/.sbxtest-$tok /tmp/sbxtest-$tok /var/tmp/sbxtest-$tok)
finish() {
	local rc=$?
	[ -z "$OTHER_PID" ] || { kill -TERM "$OTHER_PID" 2>/dev/null; wait "$OTHER_PID" 2>/dev/null; }
	stop_sbxd
	rm -f "${markers[@]}"
	rm -rf --one-file-system "$X"
	(exit $rc)
	_cleanup
}
trap finish EXIT

start_sbxd
"$SBXD" -f --socket "$OSOCK" --state-dir "$OTHER" --image-dir "$SBX_IMAGE_DIR" >>"$T/other.log" 2>&1 &
OTHER_PID=$!
wait_for 10 test -S "$OSOCK"
wait_for 10 curl -sf --max-time 1 --unix-socket "$OSOCK" -o /dev/null http://sbxd/v1/extensions
markers+=("$STATE/marker-$tok" "$OTHER/marker-$tok")
for m in "${markers[@]}"; do echo "$secret $m" >"$m"; done

# Victims: one sandbox per sbxd prints the secret; its spool keeps it.
victim=$(sbx_body -- echo "$secret-spool")
vid=$(create "$victim")
api GET "/v1/sandboxes/$vid:wait?waitSeconds=20" >/dev/null
ovid=$(jget "$(curl -sS --max-time 30 --unix-socket "$OSOCK" -X POST http://sbxd/v1/sandboxes -d "$victim")" 'j["sandboxId"]')
curl -sS --max-time 30 --unix-socket "$OSOCK" "http://sbxd/v1/sandboxes/$ovid:wait?waitSeconds=20" >/dev/null
grep -rqs "$secret-spool" "$STATE/sandboxes" || fail "setup: no victim spool in $STATE"
grep -rqs "$secret-spool" "$OTHER/sandboxes" || fail "setup: no victim spool in $OTHER"

# Modes: the state dirs 0700 (lib.sh made ours 0755), every record and
# spool 0600, every dir under them 0700.
for d in "$STATE" "$OTHER"; do
	expect "mode of $d" "$(stat -c %a "$d")" 700
	bad=$(find "$d/sandboxes" \( -type f ! -perm 600 \) -o \( -type d ! -perm 700 \) | head -3)
	[ -z "$bad" ] || fail "loose modes under $d: $bad $(stat -c %a $bad)"
done

# attack ID: what an attacker inside gets from every planted path, the
# state dirs, a grep of the tree and a search by name; then it tries to
# overwrite each marker and plant a file beside it.
attack() {
	local id=$1 grep_dirs=$2 paths="${markers[*]} $STATE $OTHER $OSOCK"
	exec_sh "$id" "
for p in $paths; do cat \"\$p\" 2>/dev/null; ls -A \"\$p\" 2>/dev/null; done
ls -A /root /home /tmp /var/tmp 2>/dev/null
grep -rsa SBXSECRET- $grep_dirs --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null | cut -c1-200
find / -xdev \\( -name '.sbxtest-*' -o -name 'sbxtest-*' -o -name 'marker-*' \\) 2>/dev/null
test -S $OSOCK && echo other-socket-visible
for p in $paths; do echo pwned >\"\$p\" 2>/dev/null; echo pwned >\"\$p.planted\" 2>/dev/null; done
echo done"
}
# host_intact: every marker still holds the secret, nothing was planted.
host_intact() {
	local m
	for m in "${markers[@]}"; do
		expect "marker $m on the host" "$(cat "$m")" "$secret $m"
		[ ! -e "$m.planted" ] || fail "the sandbox planted $m.planted on the host"
	done
	for m in "$STATE" "$OTHER" "$OSOCK"; do
		[ ! -e "$m.planted" ] || fail "the sandbox planted $m.planted on the host"
	done
	[ -S "$OSOCK" ] || fail "the other sbxd's socket is gone"
}
check_leak() { # WHAT OUTPUT
	case "$2" in *"$tok"*) fail "$1: the sandbox read a host secret: $(grep "$tok" <<<"$2" | head -5)" ;; esac
	case "$2" in *other-socket-visible*) fail "$1: the other sbxd's socket shows inside" ;; esac
	[ "$(tail -1 <<<"$2")" = done ] || fail "$1: the attack did not run to its end: $2"
}

# 1. The default image: the whole tree can be searched.
create "$(sbx_body name=att)" >/dev/null
out=$(attack "$(sbx_id att)" /)
check_leak "default image" "$out"
host_intact
note "default image: saw [$(tr "\n" " " <<<"$out")], no secret"
stop_sbxd

# 2. The host image: the same attack over the places secrets live (a grep
#    of the host's whole / would take minutes), then the masks one by one.
start_sbxd --allow-host-image
create "$(sbx_body name=hatt image=host)" >/dev/null
expect "on the host's root" "$(exec_sh "$(sbx_id hatt)" "test -d '$X' && echo host")" host
out=$(attack "$(sbx_id hatt)" "/root /home /tmp /var/tmp /run /etc $X /var/lib")
check_leak "host image" "$out"
host_intact
masked="/root /home /run /etc/ssh"
for f in /etc/shadow* /etc/gshadow* /etc/sudoers*; do [ -e "$f" ] && masked="$masked $f"; done
for p in $masked; do
	if [ -d "$p" ]; then
		[ -n "$(ls -A "$p")" ] || { note "$p is empty on the host too"; continue; }
		expect "$p inside" "$(exec_sh "$(sbx_id hatt)" "ls -A $p | wc -l")" 0
	elif [ -f "$p" ]; then
		[ -s "$p" ] || { note "$p is empty on the host too"; continue; }
		expect "$p inside" "$(exec_sh "$(sbx_id hatt)" "wc -c <$p")" 0
	fi
done
# The host's shadow is there to hide (a fresh Debian has one).
[ -s /etc/shadow ] && expect "shadow inside" "$(exec_sh "$(sbx_id hatt)" 'test -r /etc/shadow && wc -c </etc/shadow')" 0
# What is not a secret is still the host's: its tools and its /etc.
expect "host passwd" "$(exec_sh "$(sbx_id hatt)" 'head -1 /etc/passwd')" "$(head -1 /etc/passwd)"
note "host image: masked $masked, both state dirs, the other socket"
