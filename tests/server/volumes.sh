#!/bin/bash
# Scratch volumes, files[] and args without a command (issue 13): a volume
# mounted read-write and again read-only through a subPath; files[] there
# before the main command runs (sha256, seen by the command itself); a
# write past the volume's size is ENOSPC inside and nothing grows on the
# host; the read-only mount resists a remount and a write by root inside
# (checked in the volume's dir on the host); a mountPath and a file path
# through a symlink that points out of the root land inside, never on the
# host; args with an empty command run the image's Entrypoint (Cmd
# replaced), a 400 without one; a user's sandbox (its subuid range) writes
# its volume, stored with the sandbox's own uids; the volume outlives the
# sandbox and an sbxd restart, and goes with the purge; every refusal
# names its field.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
command -v umoci >/dev/null || skip "needs umoci (scripts/setup --test)"
command -v setpriv >/dev/null || skip "needs setpriv"
[ -n "$SBX_IMAGE_DIR" ] || fail "SBX_IMAGE_DIR not set (meson sets it)"
ensure_default_image
R=$SBX_IMAGE_DIR/default/rootfs

b64() { printf '%s' "$1" | base64 -w0; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# status_of JSON-OUT: the HTTP code printed last by api -w
vol_host() { echo "$STATE/volumes/$1/$2"; }

# An OCI image: a tiny rootfs (dash and friends from the default image),
# an Entrypoint that writes its argv into the volume, a Cmd, and a symlink
# /escape whose text is an absolute host path (a sandbox must resolve it
# inside its own root).
hostout=$T/hostout
mkdir -p "$hostout"
base=$T/base
mkdir -p "$base"/usr/bin "$base"/usr/lib/x86_64-linux-gnu "$base"/usr/lib64 "$base"/etc "$base"/tmp
ln -s usr/bin "$base/bin"
ln -s usr/lib "$base/lib"
ln -s usr/lib64 "$base/lib64"
for b in dash cat sleep; do cp -a "$R/usr/bin/$b" "$base/usr/bin/"; done
ln -s dash "$base/usr/bin/sh"
for l in $(ldd "$R"/usr/bin/{dash,cat,sleep} | awk '/=>/{print $3} /ld-linux/{print $1}' | sort -u); do
	l=/usr${l#/usr}
	cp -L "$R$l" "$base$l"
done
ln -s "$hostout" "$base/escape"
# /escape2 names a host dir that the image has too: inside it resolves
# to the image's (outside /tmp, which every sandbox has private).
hostout2=$(host_dir)/volesc.$$.$RANDOM
mkdir -p "$hostout2" "$base$hostout2"
ln -s "$hostout2" "$base/escape2"
(
	cd "$T"
	umoci init --layout lay
	umoci new --image lay:t1
	umoci unpack --image lay:t1 bun
	cp -a base/. bun/rootfs/
	umoci repack --image lay:t1 bun
	umoci config --image lay:t1 --config.entrypoint /bin/sh --config.entrypoint -c \
		--config.entrypoint 'mkdir -p /data; echo entry "$@" >/data/ep.out; exec sleep 300' \
		--config.entrypoint ep --config.cmd from-cmd
) >"$T/umoci.log" 2>&1 || { cat "$T/umoci.log" >&2; fail "umoci could not build the test image"; }

U1=64011
chmod o+x "$T"
subids "$T/subid" $U1
start_sbxd --socket-mode 0666 --subuid "$T/subid" --subgid "$T/subid"
"$SBXD" image import --state-dir "$STATE" "$T/lay" voltool:1 >"$T/imp.out" 2>&1 || fail "import: $(cat "$T/imp.out")"

# body NAME COMMAND_JSON ARGS_JSON VOLUMES_JSON MOUNTS_JSON FILES_JSON [IMAGE]
body() {
	python3 -c '
import json, sys
n, cmd, args, vols, mounts, files = sys.argv[1:7]
img = sys.argv[7] if len(sys.argv) > 7 else "default"
c = {"name": "main", "image": img}
if json.loads(cmd): c["command"] = json.loads(cmd)
if json.loads(args): c["args"] = json.loads(args)
if json.loads(mounts): c["volumeMounts"] = json.loads(mounts)
if json.loads(files): c["files"] = json.loads(files)
s = {"containers": [c], "tags": ["sbxfs-name=" + n]}
if json.loads(vols): s["volumes"] = json.loads(vols)
print(json.dumps({"spec": s}))' "$@"
}
# refused WANT_STATUS WANT_FIELD BODY
refused() {
	local out code
	out=$(api POST /v1/sandboxes -w '\n%{http_code}' -d "$3")
	code=$(printf '%s\n' "$out" | tail -n 1)
	out=$(printf '%s\n' "$out" | sed '$d')
	expect "status of $2" "$code" "$1"
	expect "field of $2" "$(jget "$out" '[v["field"] for d in j["details"] if "BadRequest" in d["@type"] for v in d["fieldViolations"]][0]')" "$2"
}

# --- read-write, read-only through subPath, files[] before the command
F1="first file $RANDOM"
F2="in the volume $RANDOM"
main='sha256sum /etc/conf/app.txt /data/in.txt >/data/seen 2>&1; exec sleep 300'
out=$(api POST /v1/sandboxes -d "$(body rw '"sh"' "[\"-c\", \"$main\"]" \
	'[{"name": "data", "scratch": {"size": "8Mi"}}, {"name": "mem", "scratch": {"size": "4Mi", "medium": "STORAGE_MEDIUM_MEMORY"}}]' \
	'[{"volume": "data", "mountPath": "/data"}, {"volume": "data", "mountPath": "/ro", "readOnly": true, "subPath": "sub/dir"}, {"volume": "mem", "mountPath": "/scratch//x/"}]' \
	"[{\"path\": \"/etc/conf/app.txt\", \"content\": \"$(b64 "$F1")\"}, {\"path\": \"/data/in.txt\", \"content\": \"$(b64 "$F2")\"}]")")
id=$(jget "$out" 'j["sandboxId"]') || fail "create: $out"
expect "state" "$(jget "$out" 'j["status"]["state"]')" STATE_RUNNING
V=$(vol_host "$id" data)
wait_for 10 test -s "$V/seen"
expect "the command saw files[] (sha256)" "$(awk '{print $1}' "$V/seen" | tr '\n' ' ')" "$(sha "$F1") $(sha "$F2") "
expect "file mode" "$(exec_sh "$id" 'stat -c %a /etc/conf/app.txt')" 644
expect "subPath made in the volume" "$(stat -c %F "$V/sub/dir")" directory
echo through-rw >"$V/sub/dir/from-host"
expect "read-only view of the subPath" "$(exec_sh "$id" 'cat /ro/from-host')" through-rw
expect "the memory volume" "$(exec_sh "$id" 'echo m >/scratch/x/m && cat /scratch/x/m')" m
expect "host mount options" "$(awk -v p="$V" '$5 == p {print $6}' /proc/self/mountinfo | tr ',' '\n' | grep -cE '^(nosuid|nodev)$')" 2

# --- the size: ENOSPC inside, nothing on the host's disk
du0=$(du -sk --one-file-system "$STATE" | cut -f1)
out=$(exec_sh "$id" 'dd if=/dev/zero of=/data/big bs=1M count=32 2>&1; echo rc=$?')
grep -q "No space left on device" <<<"$out" || fail "write past 8Mi: $out"
grep -q "rc=1" <<<"$out" || fail "dd past the size succeeded: $out"
big=$(stat -c %s "$V/big")
[ "$big" -le $((8 << 20)) ] || fail "the volume holds $big bytes, more than 8Mi"
expect "tmpfs size on the host" "$(df -k --output=size "$V" | tail -1 | tr -d ' ')" 8192
du1=$(du -sk --one-file-system "$STATE" | cut -f1)
[ $((du1 - du0)) -lt 1024 ] || fail "the state dir's disk grew by $((du1 - du0)) KiB"
rm -f "$V/big"

# --- readOnly resists root inside: remount, write, umount (seen on the host)
py='
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
r = libc.mount(b"none", b"/ro", None, MS_REMOUNT | MS_BIND, None)
print("remount", r, os.strerror(ctypes.get_errno()))
r = libc.umount2(b"/ro", 2)
print("umount", r, os.strerror(ctypes.get_errno()))
for p in ("/ro/pwned", "/ro/from-host"):
    try:
        open(p, "w").write("x")
        print("wrote", p)
    except OSError as e:
        print("write", p, e.strerror)
try:
    os.chmod("/ro", 0o700); print("chmod ok")
except OSError as e:
    print("chmod", e.strerror)
'
out=$(exec_out "$id" "$(python3 -c 'import json,sys; print(json.dumps(["python3", "-c", sys.argv[1]]))' "$py")")
grep -q "^remount -1" <<<"$out" || fail "remount inside: $out"
grep -q "^umount -1" <<<"$out" || fail "umount inside: $out"
grep -q "^wrote" <<<"$out" && fail "root wrote through the read-only mount: $out"
grep -q "Read-only file system" <<<"$out" || fail "write: $out"
[ ! -e "$V/sub/dir/pwned" ] || fail "the host's volume has the file root wrote read-only"
expect "the host's file unchanged" "$(cat "$V/sub/dir/from-host")" through-rw
expect "mode unchanged on the host" "$(stat -c %a "$V/sub/dir")" 777

# --- volume and files through a symlink out of the root: inside, not on the host
# A link to a host path the sandbox lacks leads nowhere inside: a 400.
refused 400 spec.containers[0].volumeMounts[0].mountPath "$(body esc0 '"true"' '[]' '[{"name": "v", "scratch": {}}]' \
	'[{"volume": "v", "mountPath": "/escape/mnt"}]' '[]' voltool:1)"
refused 400 spec.containers[0].files[0].path "$(body esc1 '"true"' '[]' '[]' '[]' \
	"[{\"path\": \"/escape/planted\", \"content\": \"$(b64 planted)\"}]" voltool:1)"
[ -z "$(ls -A "$hostout")" ] || fail "the host dir the dangling symlink names got: $(ls -A "$hostout")"
out=$(api POST /v1/sandboxes -d "$(body esc '"sleep"' '["300"]' '[{"name": "v", "scratch": {}}]' \
	'[{"volume": "v", "mountPath": "/escape2/mnt"}]' \
	"[{\"path\": \"/escape2/planted\", \"content\": \"$(b64 planted)\"}, {\"path\": \"/escape2/mnt/f\", \"content\": \"$(b64 inv)\"}]" voltool:1)")
id2=$(jget "$out" 'j["sandboxId"]') || fail "create through a symlink: $out"
expect "state (symlink)" "$(jget "$out" 'j["status"]["state"]')" STATE_RUNNING
[ -z "$(ls -A "$hostout2")" ] || fail "the host dir the symlink names got: $(ls -A "$hostout2")"
grep -q " $hostout2" /proc/self/mountinfo && fail "a mount landed on the host at $hostout2"
expect "the file went into the volume" "$(cat "$(vol_host "$id2" v)/f")" inv
expect "inside, under the root" "$(exec_out "$id2" "[\"cat\", \"$hostout2/planted\"]")" planted
expect "mounted inside" "$(exec_out "$id2" "[\"cat\", \"/escape2/mnt/f\"]")" inv
rmdir "$hostout2"
expect "default size" "$(df -k --output=size "$(vol_host "$id2" v)" | tail -1 | tr -d ' ')" $((1 << 20))

# --- args with an empty command: the image's Entrypoint, Cmd replaced
out=$(api POST /v1/sandboxes -d "$(body ep '""' '["a", "b c"]' '[{"name": "data", "scratch": {"size": "1Mi"}}]' \
	'[{"volume": "data", "mountPath": "/data"}]' '[]' voltool:1)")
id3=$(jget "$out" 'j["sandboxId"]') || fail "create args only: $out"
wait_for 10 test -s "$(vol_host "$id3" data)/ep.out"
expect "entrypoint with the args" "$(cat "$(vol_host "$id3" data)/ep.out")" "entry a b c"
expect "the spec echoes args, no command" "$(jget "$out" '[j["spec"]["containers"][0].get("command", ""), j["spec"]["containers"][0]["args"]]')" "['', ['a', 'b c']]"
out=$(api POST /v1/sandboxes -d "$(body ep2 '""' '[]' '[{"name": "data", "scratch": {"size": "1Mi"}}]' \
	'[{"volume": "data", "mountPath": "/data"}]' '[]' voltool:1)")
id4=$(jget "$out" 'j["sandboxId"]') || fail "create empty command: $out"
wait_for 10 test -s "$(vol_host "$id4" data)/ep.out"
expect "entrypoint with the Cmd" "$(cat "$(vol_host "$id4" data)/ep.out")" "entry from-cmd"
refused 400 spec.containers[0].command "$(body noep '""' '["x"]' '[]' '[]' '[]')"

# --- a user's sandbox (its subuid range) writes its volume; uids on disk are the sandbox's
# (not behind the conformance recorder: every client is the recorder there)
if [ -n "$SBX_RECORD" ]; then
	note "recorded run: the user's part needs sbxd's own socket (peer credentials)"
elif ! setpriv --reuid=$U1 --regid=$U1 --clear-groups test -x "$T"; then
	# (/tmp itself 0700 on this machine: no other uid reaches any socket in it)
	note "SKIPPED the user's part: uid $U1 cannot reach $T ($(stat -c %a /tmp) on /tmp)"
else
r=$(setpriv --reuid=$U1 --regid=$U1 --clear-groups curl -sS --unix-socket "$SOCK" -X POST http://sbxd/v1/sandboxes \
	-d "$(body usr '"sleep"' '["300"]' '[{"name": "d", "scratch": {"size": "2Mi"}}]' '[{"volume": "d", "mountPath": "/d", "subPath": "s"}]' \
	"[{\"path\": \"/d/given\", \"content\": \"$(b64 g)\"}]")")
id5=$(jget "$r" 'j["sandboxId"]') || fail "user create: $r"
ucurl() {
	setpriv --reuid=$U1 --regid=$U1 --clear-groups curl -sS --unix-socket "$SOCK" -X POST "http://sbxd/v1/sandboxes/$id5:exec" \
		-d "$(python3 -c 'import json,sys; print(json.dumps({"command": ["sh", "-c", sys.argv[1]]}))' "$1")"
}
r=$(ucurl 'echo w >/d/by-root && touch /d/by-1000 && chown 1000:1000 /d/by-1000 && stat -c "%u %g" /d/given /d /d/by-root /d/by-1000 | tr "\n" " "')
expect "ids inside" "$(b64d "$(jget "$r" 'j.get("stdout", "")')")" "0 0 0 0 0 0 1000 1000 "
UV=$(vol_host "$id5" d)/s
expect "stored as the sandbox's ids" "$(stat -c '%u %g' "$UV/given" "$UV/by-root" "$UV/by-1000" | tr '\n' ' ')" "0 0 0 0 1000 1000 "
expect "root's file on the host" "$(cat "$UV/by-root")" w
fi

# --- refusals, each naming its field
refused 501 spec.volumes[0].volumeId "$(body r1 '"true"' '[]' '[{"name": "p", "volumeId": "vol-1"}]' '[]' '[]')"
# (restoreFromSnapshotId is honoured: an unknown snapshot is 404, test snapshots)
refused 404 spec.volumes[0].scratch.restoreFromSnapshotId "$(body r2 '"true"' '[]' '[{"name": "p", "scratch": {"restoreFromSnapshotId": "snap-1"}}]' '[]' '[]')"
refused 400 spec.volumes[0].scratch.size "$(body r3 '"true"' '[]' '[{"name": "p", "scratch": {"size": "12Qi"}}]' '[]' '[]')"
refused 400 spec.volumes[0].scratch.size "$(body r4 '"true"' '[]' '[{"name": "p", "scratch": {"size": "100Gi"}}]' '[]' '[]')"
refused 400 spec.volumes[1].name "$(body r5 '"true"' '[]' '[{"name": "p", "scratch": {}}, {"name": "p", "scratch": {}}]' '[]' '[]')"
refused 400 spec.volumes[0].scratch "$(body r6 '"true"' '[]' '[{"name": "p"}]' '[]' '[]')"
refused 400 spec.containers[0].volumeMounts[0].volume "$(body r7 '"true"' '[]' '[]' '[{"volume": "nope", "mountPath": "/x"}]' '[]')"
refused 400 spec.containers[0].volumeMounts[0].mountPath "$(body r8 '"true"' '[]' '[{"name": "p", "scratch": {}}]' '[{"volume": "p", "mountPath": "rel"}]' '[]')"
refused 400 spec.containers[0].volumeMounts[0].mountPath "$(body r9 '"true"' '[]' '[{"name": "p", "scratch": {}}]' '[{"volume": "p", "mountPath": "/proc/sys"}]' '[]')"
refused 400 spec.containers[0].volumeMounts[0].mountPath "$(body r10 '"true"' '[]' '[{"name": "p", "scratch": {}}]' '[{"volume": "p", "mountPath": "/a/../.."}]' '[]')"
refused 400 spec.containers[0].volumeMounts[0].subPath "$(body r11 '"true"' '[]' '[{"name": "p", "scratch": {}}]' '[{"volume": "p", "mountPath": "/x", "subPath": "../up"}]' '[]')"
refused 400 spec.containers[0].files[0].path "$(body r12 '"true"' '[]' '[]' '[]' '[{"path": "/etc/../x", "content": ""}]')"
refused 400 spec.containers[0].files[0].path "$(body r13 '"true"' '[]' '[]' '[]' '[{"path": "relative", "content": ""}]')"
# Paths that resolve to nothing usable inside: found at create, still a 400.
refused 400 spec.containers[0].files[0].path "$(body r14 '"true"' '[]' '[]' '[]' '[{"path": "/etc", "content": ""}]')"
refused 400 spec.containers[0].volumeMounts[0].mountPath "$(body r15 '"true"' '[]' '[{"name": "p", "scratch": {}}]' '[{"volume": "p", "mountPath": "/etc/passwd"}]' '[]')"
n=$(api GET '/v1/sandboxes?showTerminated=true&pageSize=1000' | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("sandboxes", [])))')
nexp=5
[ -n "${id5:-}" ] || nexp=4
expect "refused creates left no record" "$n" $nexp
ls "$STATE/volumes" | grep -qv -e "$id" -e "$id2" -e "$id3" -e "$id4" -e "${id5:-none}" && fail "volumes of refused creates: $(ls "$STATE/volumes")"

# --- the volume outlives the sandbox and a restart, goes with the purge
expect "delete" "$(api_status DELETE "/v1/sandboxes/$id")" 200
wait_state "$id" STATE_TERMINATED 10
expect "after the end" "$(cat "$V/in.txt")" "$F2"
stop_sbxd
start_sbxd --socket-mode 0666 --subuid "$T/subid" --subgid "$T/subid"
expect "after a restart" "$(cat "$V/in.txt")" "$F2"
expect "forget (purge)" "$(api_status POST "/v1/sandboxes/$id:forget")" 200
wait_for 10 sh -c "! test -e '$STATE/volumes/$id'"
grep -q "$STATE/volumes/$id/" /proc/self/mountinfo && fail "the purged volume is still mounted"
# A running one after the restart: FAILED "sbxd restarted", volume kept.
expect "a running one's volume after the restart" "$(cat "$(vol_host "$id3" data)/ep.out")" "entry a b c"
echo ok
