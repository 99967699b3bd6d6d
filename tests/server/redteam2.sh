#!/usr/bin/env bash
# Red team 2 (docs/security.md, "Red team 2"): what a sandbox learns of the
# host from its own mount table and UTS names, what a warm-pool box carries
# from sbxd or from the pool, and :openFile / :listDirs against a sandbox
# that races the host with renames and link swaps. Every check looks at the
# HOST: the strings the host knows (its state dir, image dir, socket, test
# dir, a hostname, a domain name, an environment token, a descriptor's
# path), the descriptors sbxd hands out (fstat and /proc/self/fd on the
# host), the host's marker files (content and sha256).
# 1. mountinfo: the overlay's options named the host's image dir and state
#    dir (lowerdir=/.../images/default/rootfs, upperdir=STATE/run/upper);
#    on the host image, the masks of state dirs and sockets under /tmp
#    (which the box has a private one of anyway) named every sbxd's state
#    dir and socket. Now the options are relative (l0, upper, work) and no
#    mask is made under a private /tmp.
# 2. UTS: the box's UTS namespace is a copy of sbxd's; init set the
#    hostname but not the NIS domain name: the box read the host's. Now
#    "(none)", as a fresh kernel.
# 3. A warm-pool box against a cold one with the same spec: everything a
#    process inside can see (env, fds, cwd, umask, ids, caps, limits, /tmp,
#    /dev/shm, /var/tmp, pids, cgroup, mounts, tmpfs size after the
#    spec's memory, hostname) is the same, and the host's cgroup limits are
#    the spec's; neither carries sbxd's environment, fds or cwd.
# 4. :openFile and :listDirs: the refusals (directory, FIFO, socket,
#    device, link, pseudo file systems, magic links, `..` past /), then 8 s
#    of the sandbox swapping the names between a file, links out of the
#    box, a directory, a FIFO and a socket while the host asks for
#    descriptors (read and write) and listings of them; before that,
#    openFile of a file reached through a `..` while the box renames
#    something else failed "not a regular file" 1 in 16 times (the
#    kernel's EAGAIN to retry, mistold): now every one comes; a user who does
#    not own the sandbox gets 404 and no descriptor, TCP and a request
#    without the upgrade's headers a 400.
# 5. The snapshot store is every user's: one user's snapshots could fill
#    its disk down to --min-free and its 4096 records for all. Now a user
#    other than root holds at most a quarter of each: past it the
#    snapshot FAILS (or is refused) naming the share; root is not held.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"

FDA="$TESTS_DIR/server/fdattack.py"
tok="rt2tok$RANDOM$RANDOM"
HN="hostname-$tok" DN="domain-$tok"
mkdir -p "$T/hostcwd" "$T/host"
echo "SECRET-$tok" >"$T/host/secret"
echo "victim-$tok" >"$T/host/victim"
: >"$T/host/hostonly-$tok"
victim_sha=$(sha256sum <"$T/host/victim")
# sbxd itself in a UTS namespace of its own with a hostname and domain
# name of the test's, a token in its environment, a host file open as fd 7
# and its cwd in the test dir: none of them may reach a box.
REAL_SBXD=$SBXD
cat >"$T/sbxd-wrap" <<EOF
#!/bin/sh
exec unshare --uts sh -c 'echo $HN >/proc/sys/kernel/hostname && echo $DN >/proc/sys/kernel/domainname &&
cd $T/hostcwd && exec 7<$T/host/secret && SBXD_SECRET_ENV=$tok exec "\$0" "\$@"' "$REAL_SBXD" "\$@"
EOF
chmod +x "$T/sbxd-wrap"
SBXD=$T/sbxd-wrap
IMG=$(realpath "$SBX_IMAGE_DIR")

# leaks WHAT TEXT [host]: fails naming the host string TEXT holds. On the
# host image (host), the masks of other sbxds' state dirs, which tests
# running beside this one may keep under the build dir, are mount points
# of their own paths there (docs/security.md): the build dir is left out.
leaks() {
	local s build=$BUILD_DIR
	[ "${3:-}" != host ] || build=$IMG
	for s in "$STATE" "$IMG" "$SOCK" "$T" "$build" "$HN" "$DN" "$tok"; do
		case "$2" in *"$s"*) fail "$1: the box sees the host's $s: $(grep -F -- "$s" <<<"$2" | head -3)" ;; esac
	done
}
# What a process in a box sees of its mounts, names and inheritance;
# mount ids and device numbers (which differ per mount) are cut.
PROBE='
awk "{\$1=\$2=\$3=\"\"; print}" /proc/self/mountinfo; cat /proc/mounts /proc/self/mountstats
cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname; uname -n; hostname
env | sort; pwd; umask; id; ls -l /proc/self/fd | tail -n +2 | awk "{print \$9, \$10, \$11}" | sed "s/:\[[0-9]*\]//"
ls -A /tmp /dev/shm /var/tmp; echo /proc/[0-9]*
cat /proc/self/cgroup; grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status; cat /proc/self/limits
cat /proc/1/cmdline | tr "\0" " "; echo; df -k / /tmp | tail -n +2 | awk "{print \$2}"'
probe() { exec_sh "$1" "$PROBE" | sed "s/$1/ID/g"; }

# ---- 1, 2: the mount table and UTS names of a cold box, the host image's
start_sbxd --allow-host-image
a=$(create "$(sbx_body memory=64Mi pids=64)")
wait_state "$a" STATE_RUNNING 30
cold=$(probe "$a")
leaks "a box on the default image" "$cold"
grep -q 'lowerdir=l0,upperdir=upper,workdir=work' <<<"$cold" || fail "the overlay's options: $(grep overlay <<<"$cold")"
expect "domain name inside" "$(exec_sh "$a" 'cat /proc/sys/kernel/domainname')" "(none)"
h=$(create "$(sbx_body image=host)")
wait_state "$h" STATE_RUNNING 30
hout=$(exec_sh "$h" 'cat /proc/self/mountinfo /proc/mounts /proc/self/mountstats /proc/sys/kernel/domainname; hostname; env')
leaks "a box on the host image" "$hout" host
# the host image still masks what it did: this sbxd's state dir is under
# /tmp, which the box has a private one of
[ -z "$(exec_sh "$h" "ls -A '$STATE' 2>/dev/null")" ] || fail "the host image lists the state dir"
note "mounts: $(grep -c . <<<"$(exec_sh "$a" 'cat /proc/self/mountinfo')") in a box, none naming a host path"
api DELETE "/v1/sandboxes/$h" >/dev/null
stop_sbxd

# ---- 3: a warm-pool box against that cold one, same spec
start_sbxd --warm-pool 1
# the member: a box cgroup under this sbxd's parent that no sandbox has
# (found as tests/server/warm_pool.sh finds them)
cg_parent() {
	local c line
	for c in $(pgrep -P "$SBXD_PID"); do
		line=$(grep -m1 '^0::/sbxd-' "/proc/$c/cgroup" 2>/dev/null) || continue
		line=${line#0::/}
		echo "${line%%/*}"
		return 0
	done
	return 1
}
wait_for 20 cg_parent >/dev/null
PFX=$(cg_parent)
if [ -d "/sys/fs/cgroup/unified/$PFX" ]; then V2=/sys/fs/cgroup/unified/$PFX; else V2=/sys/fs/cgroup/$PFX; fi
MEMD=/sys/fs/cgroup/memory/$PFX PIDSD=/sys/fs/cgroup/pids/$PFX
[ -d "$MEMD" ] || { MEMD=$V2 PIDSD=$V2; }
v2_boxes() { find "$V2" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort; }
member_ready() { [ -n "$(v2_boxes)" ]; }
wait_for 30 member_ready
members=$(v2_boxes)
w=$(create "$(sbx_body memory=64Mi pids=64)")
grep -qx "$w" <<<"$members" || fail "the create did not take the member ($w; members $members)"
wait_state "$w" STATE_RUNNING 30
warm=$(probe "$w")
leaks "a warm-pool box" "$warm"
if [ "$warm" != "$cold" ]; then
	diff <(echo "$cold") <(echo "$warm") >&2 || true
	fail "a warm-pool box differs from a cold one with the same spec"
fi
if [ -f "$MEMD/$w/memory.limit_in_bytes" ]; then mem=$(cat "$MEMD/$w/memory.limit_in_bytes"); else mem=$(cat "$MEMD/$w/memory.max"); fi
expect "the claimed box's memory limit on the host" "$mem" $((64 << 20))
expect "the claimed box's pids limit on the host" "$(cat "$PIDSD/$w/pids.max")" 64
note "warm pool: a claimed box shows what a cold one shows ($(wc -l <<<"$warm") lines compared)"
stop_sbxd

# ---- 4: :openFile and :listDirs
chmod 0711 "$T" # user 65534 reaches the socket (below), nothing else of $T
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "tcp-$tok" >"$T/token"
chmod 600 "$T/token"
start_sbxd --socket-mode 0666 --listen "127.0.0.1:$port" --token-file "$T/token"
b=$(create "$(sbx_body)")
wait_state "$b" STATE_RUNNING 30
# the box's own copy of the host's marker dir, so that a link that stays
# inside leads to a known SANDBOX-COPY; then its attack objects
exec_sh "$b" "mkdir -p '$T/host' /race/d && echo SANDBOX-COPY > '$T/host/secret' && echo box > /race/f &&
mkfifo /race/fifo && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/race/sock\")' &&
ln -s '$T/host/secret' /race/abs && ln -s ../../../../../../../..'$T/host/secret' /race/climb &&
ln -s / /race/root && ln -s ../../../../../..'$T/host' /race/hostdir && echo made" | grep -qx made ||
	fail "setup: the attack objects"
once() { python3 "$FDA" "$SOCK" "$b" once "$@"; }
read -r st kind dev link text <<<"$(once /race/f write)"
expect "openFile of a regular file" "$st $kind $text" "101 reg box"
for p in / /race /race/d /race/fifo /race/sock /dev/null /dev/zero /race/abs /race/climb /race/root \
	/proc/self/environ /proc/1/root/etc/passwd /proc/self/root/race/f \
	/sys/kernel/notes /..; do
	read -r st kind _ <<<"$(once "$p")"
	[ "$kind" = none ] || fail "openFile of $p handed out a descriptor ($st $kind)"
done
# a writable descriptor of a file of the image is the box's copy of it:
# a write through it leaves the image every box shares unchanged
img_sha=$(sha256sum <"$IMG/default/rootfs/etc/debian_version")
python3 - "$SOCK" "$b" "$FDA" <<'PY' || fail "a write through openFile of /etc/debian_version"
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("fda", sys.argv[3]); fda = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fda)
st, _, _, fd = fda.open_file(sys.argv[1], sys.argv[2], "/etc/debian_version", True)
assert st == 101 and fd is not None, st
os.pwrite(fd, b"WRITTEN-BY-THE-HOST\n", 0)
os.close(fd)
PY
expect "the image's /etc/debian_version on the host" "$(sha256sum <"$IMG/default/rootfs/etc/debian_version")" "$img_sha"
expect "the box's own /etc/debian_version" "$(exec_sh "$b" 'head -n 1 /etc/debian_version')" WRITTEN-BY-THE-HOST
# links inside the path (not its last component) resolve inside the box
read -r st kind _ link text <<<"$(once /race/root/race/f)"
expect "openFile through a link to /" "$st $kind $text" "101 reg box"
for p in /race/hostdir/secret /race/root$T/host/secret; do
	read -r st kind tdev link text <<<"$(once "$p")"
	expect "openFile of $p" "$st $kind $text" "101 reg SANDBOX-COPY"
done
# a `..` on the way (here in a link's text) while anything renames: the
# kernel's RESOLVE_IN_ROOT walk asks for a retry (EAGAIN), which sbxd told
# as "not a regular file" (1 in 16 opens here); now it tries again
exec_sh "$b" 'mkdir -p /race/a && echo box > /race/a/f && ln -s ../race/a /race/up && touch /race/r0 &&
(python3 -c "
import os, time
end = time.time() + 7
while time.time() < end:
    os.rename(\"/race/r0\", \"/race/r1\"); os.rename(\"/race/r1\", \"/race/r0\")
" >/dev/null 2>&1 &); echo ok' | grep -qx ok || fail "setup: the renamer"
out=$(python3 "$FDA" "$SOCK" "$b" count 5 /race/up/f 2>&1) || fail "openFile through a .. link while the box renames: $out"
note "through a .. link while the box renames: $out"
sleep 2
# the race: the box renames its objects over the names the host asks for
exec_sh "$b" "cat > /race/swap.py <<'EOF'
import os, socket, sys, time
os.chdir('/race')
end = time.time() + float(sys.argv[1])
n = 0
def make(kind, name):
    if kind == 'file': open(name, 'w').write('box\n')
    elif kind == 'abs': os.symlink('$T/host/secret', name)
    elif kind == 'climb': os.symlink('../../../../../../..$T/host/secret', name)
    elif kind == 'root': os.symlink('/', name)
    elif kind == 'hostdir': os.symlink('../../../../../..$T/host', name)
    elif kind == 'dir': os.mkdir(name); open(name + '/x', 'w').write('box\n')
    elif kind == 'fifo': os.mkfifo(name)
    elif kind == 'sock': socket.socket(socket.AF_UNIX).bind(name)
kinds = ['file', 'abs', 'climb', 'root', 'hostdir', 'dir', 'fifo', 'sock']
while time.time() < end:
    for k in kinds:
        for target in ('x', 'd/x', 'e'):
            t = '.new'
            make(k, t)
            try:
                os.rename(t, target)
            except OSError:
                os.system('rm -rf ' + target)
                os.rename(t, target)
            n += 1
    if not os.path.isdir('d') or os.path.islink('d'):
        os.system('rm -rf d'); os.mkdir('d')
print(n)
EOF
(python3 /race/swap.py 10 > /race/swaps 2>&1 &) ; echo started" >/dev/null
out=$(python3 "$FDA" "$SOCK" "$b" race 8 "$dev,$tdev" "$T/host" "SECRET-$tok" /race/x /race/d/x /race/e /race/e/x \
	/race/e/secret /race/x/secret /race/e/race/f 2>&1) || fail "the race: $out"
sleep 2.5
swaps=$(exec_sh "$b" 'cat /race/swaps')
note "race: $out; $swaps renames by the box (load $(cut -d' ' -f1 /proc/loadavg))"
[ "${swaps:-0}" -gt 50 ] 2>/dev/null || fail "the box made only [$swaps] swaps"
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if j["fds"] > 20 and j["listings"] > 20 else 1)' \
	"$(tail -1 <<<"$out")" || fail "too few descriptors or listings to judge: $out"
expect "the host's secret" "$(cat "$T/host/secret")" "SECRET-$tok"
expect "the host's victim" "$(sha256sum <"$T/host/victim")" "$victim_sha"
expect "the host's marker dir" "$(ls -A "$T/host" | sort | tr '\n' ' ')" "hostonly-$tok secret victim "
# over TCP (the token holder, but no peer to pass a descriptor to) and
# without the upgrade's headers: refused, never a 101
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer tcp-$tok" \
	-H 'Connection: Upgrade' -H 'Upgrade: sbxd-fd' "http://127.0.0.1:$port/v1/sandboxes/$b:openFile?path=/race/f" || true)
expect "openFile over TCP" "$code" 400
expect "openFile without Upgrade" "$(api_status GET "/v1/sandboxes/$b:openFile?path=/race/f")" 400
# a user who does not own the sandbox: 404 and no descriptor, no listing
nob() { setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 "$FDA" "$SOCK" "$b" once "$@"; }
read -r st kind _ <<<"$(nob /race/f)"
expect "openFile by a user who does not own the sandbox" "$st $kind" "404 none"
read -r st kind _ <<<"$(nob /race/f write)"
expect "openFile for writing by a user who does not own the sandbox" "$st $kind" "404 none"
code=$(setpriv --reuid 65534 --regid 65534 --clear-groups curl -sS -o /dev/null -w '%{http_code}' \
	--unix-socket "$SOCK" -X POST "http://sbxd/v1/sandboxes/$b:listDirs" -d '{"path": "/race"}')
expect "listDirs by a user who does not own the sandbox" "$code" 404
stop_sbxd

# ---- 5: one user's snapshots against the store everyone shares: the
# state dir on a 96 MiB tmpfs of the test's own (a user's share: 24 MiB)
U1=64001
subids "$T/subid" $U1
STATE=$T/state5
mkdir -p "$STATE"
mount -t tmpfs -o size=96m,mode=0700 sbxtest-redteam2 "$STATE" || skip "cannot mount a tmpfs"
start_sbxd --socket-mode 0666 --subuid "$T/subid" --subgid "$T/subid" --min-free 1Mi
ucurl() { setpriv --reuid=$U1 --regid=$U1 --clear-groups curl -sS --max-time 70 --unix-socket "$SOCK" "$@"; }
vol='{"spec": {"containers": [{"name": "main", "image": "default", "volumeMounts": [{"volume": "data", "mountPath": "/data"}]}], "volumes": [{"name": "data", "scratch": {"size": "64Mi"}}]}}'
u=$(jget "$(ucurl -X POST http://sbxd/v1/sandboxes -d "$vol")" 'j["sandboxId"]')
wait_state "$u" STATE_RUNNING 30
# usnap: a snapshot of the user's volume as the user, waited for: "STATE reason"
usnap() {
	local id s end=$((SECONDS + 60))
	id=$(jget "$(ucurl -X POST "http://sbxd/v1/sandboxes/$u:snapshot" -d "{\"sandboxId\": \"$u\", \"scratchVolumeName\": \"data\"}")" \
		'j.get("fileSystemSnapshotId", "")')
	[ -n "$id" ] || { echo "REFUSED"; return; }
	while :; do
		s=$(ucurl "http://sbxd/v1/fileSystemSnapshots/$id")
		[ "$(jget "$s" 'j.get("state", "")')" != SNAPSHOT_STATE_CREATING ] && break
		[ $SECONDS -lt $end ] || break
		sleep 0.2
	done
	jget "$s" 'j.get("state", "") + " " + j.get("stateReason", "")'
}
# a user's box (a uid range: idmapped layers, its scratch on its own /tmp)
# and its volume's mount name no host path either
uout=$(exec_sh "$u" 'cat /proc/self/mountinfo /proc/mounts /proc/self/mountstats /proc/sys/kernel/domainname')
leaks "a user's box" "$uout"
grep -q 'lowerdir=l0,upperdir=upper,workdir=work' <<<"$uout" || fail "a user's box's overlay: $(grep overlay <<<"$uout")"
exec_sh "$u" 'head -c 31457280 /dev/urandom > /data/a && echo ok' | grep -qx ok || fail "setup: 30 MiB in the volume"
r=$(usnap)
note "30 MiB of one user's snapshot on a 96 MiB store: $r"
case $r in "SNAPSHOT_STATE_FAILED "*"a user's share of the store"*) ;; *) fail "a 30 MiB snapshot of a user: $r" ;; esac
[ -z "$(ls -A "$STATE/snapshots/tmp")" ] || fail "a half archive is left"
exec_sh "$u" 'rm /data/a; head -c 10485760 /dev/urandom > /data/b && echo ok' | grep -qx ok || fail "setup: 10 MiB"
r=$(usnap)
case $r in "SNAPSHOT_STATE_READY"*) ;; *) fail "a 10 MiB snapshot of a user: $r" ;; esac
exec_sh "$u" 'head -c 16777216 /dev/urandom > /data/c && echo ok' | grep -qx ok || fail "setup: 16 MiB more"
r=$(usnap)
case $r in "SNAPSHOT_STATE_FAILED "*"a user's share of the store"*) ;; *) fail "10 + 26 MiB of one user: $r" ;; esac
store=$(du -sb "$STATE/snapshots" | cut -f1)
[ "$store" -lt $((25 << 20)) ] || fail "the user's snapshots hold $store bytes of the 96 MiB store"
# root (the operator) is not held to a user's share
ro=$(create "$vol")
wait_state "$ro" STATE_RUNNING 30
exec_sh "$ro" 'head -c 31457280 /dev/urandom > /data/a && echo ok' | grep -qx ok || fail "setup: root's 30 MiB"
id=$(jget "$(api POST "/v1/sandboxes/$ro:snapshot" -d "{\"sandboxId\": \"$ro\", \"scratchVolumeName\": \"data\"}")" 'j["fileSystemSnapshotId"]')
for i in $(seq 1 300); do
	st=$(jget "$(api GET "/v1/fileSystemSnapshots/$id")" 'j.get("state", "")')
	[ "$st" != SNAPSHOT_STATE_CREATING ] && break
	sleep 0.2
done
expect "root's 30 MiB snapshot" "$st" SNAPSHOT_STATE_READY
note "a user's share: 30 MiB FAILED, 10 MiB READY, 26 MiB more FAILED (store $store bytes); root's 30 MiB READY"
exit 0
