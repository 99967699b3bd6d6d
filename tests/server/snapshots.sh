#!/usr/bin/env bash
# Filesystem snapshots (issue 13) over the real API: files of several
# sizes, a symlink, a hard link, modes, owners and an mtime written into a
# scratch volume; CreateFileSystemSnapshot answers CREATING, Get shows
# READY; the sandbox is deleted and a new one restores the snapshot with
# restoreFromSnapshotId: every file byte-identical (sha256) with its
# metadata (a manifest made inside both sandboxes). The archive's bytes on
# disk against du of the volume. DeleteSandbox?snapshotVolumes= (ON_DELETE,
# with what the sandbox wrote last). A restart keeps READY snapshots and
# turns a CREATING one FAILED; a FAILED one is refused for a restore.
# Errors: unknown ids, a volume the sandbox has not, another user's
# snapshot. DeleteFileSystemSnapshot removes the archive from the disk.
# Hostile archives planted in the store (a symlink escape, with its digest
# made to match; a tampered one) restore nothing outside (the host checks).
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
command -v setpriv >/dev/null || skip "no setpriv"
U1=64011
chmod o+x "$T"
start_sbxd --socket-mode 0666

# vbody [RESTORE_ID] [-- ARGV]: one container on the default image with
# the scratch volume "data" (64Mi) at /data, restored from RESTORE_ID.
vbody() {
	python3 -c '
import json, sys
a = sys.argv[1:]
rid = a[0] if a and a[0] != "--" else ""
argv = a[a.index("--") + 1:] if "--" in a else []
scratch = {"size": "64Mi"}
if rid: scratch["restoreFromSnapshotId"] = rid
c = {"name": "main", "image": "default", "volumeMounts": [{"volume": "data", "mountPath": "/data"}]}
if argv:
    c["command"] = argv[0]
    c["args"] = argv[1:]
print(json.dumps({"spec": {"containers": [c], "volumes": [{"name": "data", "scratch": scratch}]}}))' "$@"
}
# manifest ID: every entry below /data as the sandbox sees it: type, mode,
# owner, size, mtime (ns), nlink, sha256 of the bytes or the link's text.
manifest() {
	exec_sh "$1" 'python3 - <<"EOF"
import hashlib, os, stat
out = []
for root, dirs, files in os.walk("/data"):
    for n in sorted(dirs + files):
        p = os.path.join(root, n)
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            h = "->" + os.readlink(p)
        else:
            h = "-"
        out.append("%s %o %d:%d %d %d %d %s" % (p, st.st_mode, st.st_uid, st.st_gid,
                   0 if stat.S_ISDIR(st.st_mode) else st.st_size, st.st_mtime_ns, st.st_nlink, h))
print("\n".join(sorted(out)))
EOF'
}
snap_get() { api GET "/v1/fileSystemSnapshots/$1"; }
snap_state() { jget "$(snap_get "$1")" 'j.get("state", "")'; }
wait_ready() {
	local id=$1 end=$((SECONDS + 30)) s
	while :; do
		s=$(snap_state "$id")
		[ "$s" = SNAPSHOT_STATE_READY ] && return 0
		[ "$s" = SNAPSHOT_STATE_CREATING ] || fail "snapshot $id is $s: $(snap_get "$id")"
		[ $SECONDS -lt $end ] || fail "snapshot $id still $s after 30 s"
		sleep 0.1
	done
}
# status_reason METHOD PATH [curl args]: "HTTP REASON"
status_reason() {
	local out code
	out=$(api "$@" -w '\n%{http_code}')
	code=$(printf '%s\n' "$out" | tail -n 1)
	printf '%s %s\n' "$code" "$(err_reason "$(printf '%s\n' "$out" | sed '$d')" 2>/dev/null || echo none)"
}

# ---- the round trip
a=$(create "$(vbody)")
wait_state "$a" STATE_RUNNING 30
exec_sh "$a" 'set -e; cd /data
head -c 3000000 /dev/urandom > big.bin
python3 -c "import sys; sys.stdout.write(\"text line\\n\" * 400000)" > text.txt
printf hello > small; : > empty
mkdir -p d/e; printf deep > d/e/f
ln -s ../small d/link; ln -s /etc/passwd abs-link; ln small hard
chmod 0751 big.bin; chmod 0400 d/e/f; chown 1000:1001 d d/e/f; chmod 2775 d
touch -h -d @1234567890.5 small abs-link; touch -d @1000000000 d/e' >/dev/null
before=$(manifest "$a")
printf '%s\n' "$before" | grep -q '/data/hard 100644 0:0 5 1234567890500000000 2 ' || fail "setup: $before"
out=$(api POST "/v1/sandboxes/$a:snapshot" -d "{\"sandboxId\": \"$a\", \"scratchVolumeName\": \"data\", \"requestId\": \"r-1\"}")
id=$(jget "$out" 'j["fileSystemSnapshotId"]')
expect "answers CREATING" "$(jget "$out" 'j["state"]')" SNAPSHOT_STATE_CREATING
expect "id form" "$(jget "$out" 'j["fileSystemSnapshotId"].startswith("fss-")')" true
expect "trigger" "$(jget "$out" 'j["trigger"]')" SNAPSHOT_TRIGGER_MANUAL
expect "source" "$(jget "$out" '(j["sourceSandboxId"], j["sourceVolumeName"], j["requestId"])')" "('$a', 'data', 'r-1')"
wait_ready "$id"
g=$(snap_get "$id")
expect "complete time" "$(jget "$g" '"completeTime" in j and "createTime" in j and "updatedAt" in j')" true
size=$(jget "$g" 'j["sizeBytes"]')
arch=$STATE/snapshots/$id.tar.zst
[ -f "$arch" ] || fail "no archive $arch"
disk=$(du -B1 "$arch" | cut -f1)
vol_du=$(du -sB1 "$STATE/volumes/$a/data" | cut -f1)
vol_app=$(du -sb "$STATE/volumes/$a/data" | cut -f1)
expect "sizeBytes is the archive" "$size" "$(stat -c %s "$arch")"
note "compact: archive $disk bytes on disk for a volume of du $vol_du (apparent $vol_app); ratio $(python3 -c "print(round($disk / $vol_du, 3))") (load $(cut -d' ' -f1 /proc/loadavg))"
[ "$disk" -le "$vol_du" ] || fail "the archive ($disk) costs more than the volume's du ($vol_du)"
# the list: ours, and filtered by sandbox
l=$(api GET "/v1/fileSystemSnapshots?sourceSandboxId=$a")
expect "list by sandbox" "$(jget "$l" '[s["fileSystemSnapshotId"] for s in j["fileSystemSnapshots"]]')" "['$id']"
expect "list other sandbox" "$(api GET "/v1/fileSystemSnapshots?sourceSandboxId=sbx-none")" "{}"

api DELETE "/v1/sandboxes/$a" >/dev/null
wait_state "$a" STATE_TERMINATED 30
b=$(create "$(vbody "$id")")
wait_state "$b" STATE_RUNNING 30
after=$(manifest "$b")
[ "$after" = "$before" ] || fail "restored tree differs:
$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))"
note "round trip: $(printf '%s\n' "$after" | wc -l) entries identical"

# ---- snapshotVolumes at delete: taken after the stop, with the last write
exec_sh "$b" 'echo last > /data/last-word' >/dev/null
d=$(api DELETE "/v1/sandboxes/$b?snapshotVolumes=data&requestId=r-del")
expect "delete answer sandbox" "$(jget "$d" 'j["sandbox"]["sandboxId"]')" "$b"
id2=$(jget "$d" 'j["fileSystemSnapshotIds"][0]')
expect "one id" "$(jget "$d" 'len(j["fileSystemSnapshotIds"])')" 1
wait_ready "$id2"
g=$(snap_get "$id2")
expect "on delete" "$(jget "$g" '(j["trigger"], j["requestId"])')" "('SNAPSHOT_TRIGGER_ON_DELETE', 'r-del')"
c=$(create "$(vbody "$id2")")
wait_state "$c" STATE_RUNNING 30
expect "last write kept" "$(exec_sh "$c" 'cat /data/last-word')" last
expect "older files kept" "$(exec_sh "$c" 'sha256sum /data/big.bin | cut -c1-64')" \
	"$(printf '%s\n' "$before" | awk '$1 == "/data/big.bin" {print $NF}')"

# ---- errors
expect "unknown id" "$(status_reason GET /v1/fileSystemSnapshots/fss-0000000000000000)" "404 CWSANDBOX_FSS_NOT_FOUND"
expect "bad id" "$(status_reason GET /v1/fileSystemSnapshots/not-an-id)" "404 CWSANDBOX_FSS_NOT_FOUND"
expect "no such volume" "$(status_reason POST "/v1/sandboxes/$c:snapshot" -d "{\"sandboxId\": \"$c\", \"scratchVolumeName\": \"nope\"}")" \
	"400 CWSANDBOX_VOLUME_NOT_SNAPSHOTTABLE"
expect "the only volume when unnamed" "$(jget "$(api POST "/v1/sandboxes/$c:snapshot" -d "{\"sandboxId\": \"$c\"}")" 'j["sourceVolumeName"]')" data
plain=$(create "$(sbx_body)")
expect "no volume to name" "$(status_reason POST "/v1/sandboxes/$plain:snapshot" -d "{\"sandboxId\": \"$plain\"}")" "400 CWSANDBOX_INVALID_REQUEST"
expect "unknown sandbox" "$(status_reason POST "/v1/sandboxes/sbx-0000000000000000:snapshot" -d '{"sandboxId": "sbx-0000000000000000"}')" \
	"404 CWSANDBOX_SANDBOX_NOT_FOUND"
expect "delete with a bad volume" "$(status_reason DELETE "/v1/sandboxes/$c?snapshotVolumes=nope")" "400 CWSANDBOX_VOLUME_NOT_SNAPSHOTTABLE"
expect "it did not stop" "$(state_of "$c")" STATE_RUNNING
expect "allowMissing with snapshotVolumes" "$(status_reason DELETE "/v1/sandboxes/$c?snapshotVolumes=data&allowMissing=true")" "400 CWSANDBOX_INVALID_REQUEST"
expect "restore unknown" "$(status_reason POST /v1/sandboxes -d "$(vbody fss-0000000000000000)")" "404 CWSANDBOX_FSS_NOT_FOUND"

# ---- another user: sees nothing of root's (not behind the conformance
# recorder: there every client is the recorder, root, on a 0600 socket)
as() { setpriv --reuid="$U1" --regid="$U1" --clear-groups "$@"; }
# (nor where the machine's /tmp is not searchable by other uids)
if [ -z "${SBX_RECORD:-}" ] && ! as test -e "$SOCK"; then
	note "other-user checks skipped: uid $U1 cannot reach $SOCK (/tmp is $(stat -c %a /tmp))"
	SKIP_USERS=1
fi
[ -n "${SBX_RECORD:-}${SKIP_USERS:-}" ] || {
# ures ARGS: "HTTP REASON" (or the body when there is no reason) as U1
ures() {
	local r b
	r=$(as curl -sS --max-time 70 --unix-socket "$SOCK" -w '\n%{http_code}' "$@")
	b=$(printf '%s\n' "$r" | sed '$d')
	printf '%s %s\n' "$(printf '%s\n' "$r" | tail -n 1)" "$(err_reason "$b" 2>/dev/null || printf '%s' "$b")"
}
expect "other user get" "$(ures "http://sbxd/v1/fileSystemSnapshots/$id")" "404 CWSANDBOX_FSS_NOT_FOUND"
expect "other user list" "$(ures http://sbxd/v1/fileSystemSnapshots)" "200 {}"
expect "other user delete" "$(ures -X DELETE "http://sbxd/v1/fileSystemSnapshots/$id")" "404 CWSANDBOX_FSS_NOT_FOUND"
expect "other user restore" "$(ures -X POST http://sbxd/v1/sandboxes -d "$(vbody "$id")")" "404 CWSANDBOX_FSS_NOT_FOUND"
[ -f "$arch" ] || fail "another user's delete removed the archive"
}

# ---- restart: READY stays, CREATING becomes FAILED, a FAILED one is refused
stop_sbxd
printf '{"id":"fss-00000000000000ab","state":"CREATING","owner":0,"seq":"99","sourceSandboxId":"%s","sourceVolumeName":"data"}' "$c" \
	>"$STATE/snapshots/fss-00000000000000ab.json"
start_sbxd --socket-mode 0666
expect "kept READY" "$(snap_state "$id")" SNAPSHOT_STATE_READY
g=$(snap_get fss-00000000000000ab)
expect "CREATING -> FAILED" "$(jget "$g" '(j["state"], "restarted" in j["stateReason"])')" "('SNAPSHOT_STATE_FAILED', True)"
expect "restore FAILED" "$(status_reason POST /v1/sandboxes -d "$(vbody fss-00000000000000ab)")" "400 CWSANDBOX_FSS_NOT_READY"
r=$(create "$(vbody "$id")")
wait_state "$r" STATE_RUNNING 30
[ "$(manifest "$r")" = "$before" ] || fail "restore after restart differs"

# ---- hostile archives: a symlink escape with a matching digest, a tampered one
mkdir -p "$T/outside"
python3 - "$T/evil.tar" "$T/outside" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    l = tarfile.TarInfo("esc"); l.type = tarfile.SYMTYPE; l.linkname = sys.argv[2]; t.addfile(l)
    f = tarfile.TarInfo("esc/marker"); data = b"pwned\n"; f.size = len(data); t.addfile(f, io.BytesIO(data))
EOF
stop_sbxd
cp "$T/evil.tar" "$arch"
python3 - "$STATE/snapshots/$id.json" "$arch" <<'EOF'
import hashlib, json, sys
r = json.load(open(sys.argv[1]))
r["digest"] = "sha256:" + hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
json.dump(r, open(sys.argv[1], "w"))
EOF
start_sbxd --socket-mode 0666
out=$(api POST /v1/sandboxes -d "$(vbody "$id")")
expect "escape refused" "$(jget "$out" '(j["status"]["state"], "refused" in j["status"].get("stateReason", ""))')" "('STATE_FAILED', True)"
[ ! -e "$T/outside/marker" ] || fail "the archive wrote outside the volume"
[ -z "$(ls -A "$T/outside")" ] || fail "something landed outside: $(ls -A "$T/outside")"
# the digest no longer matches: refused before anything is unpacked
printf 'x' >>"$arch"
out=$(api POST /v1/sandboxes -d "$(vbody "$id")")
expect "tampered refused" "$(jget "$out" '(j["status"]["state"], "digest" in j["status"].get("stateReason", ""))')" "('STATE_FAILED', True)"

# ---- DeleteFileSystemSnapshot: the bytes leave the disk
out=$(api DELETE "/v1/fileSystemSnapshots/$id2")
expect "delete answer" "$(jget "$out" '(j["fileSystemSnapshotId"], j["state"])')" "('$id2', 'SNAPSHOT_STATE_DELETING')"
[ ! -e "$STATE/snapshots/$id2.tar.zst" ] || fail "the archive of $id2 is still on disk"
[ ! -e "$STATE/snapshots/$id2.json" ] || fail "the record of $id2 is still on disk"
expect "gone" "$(status_reason GET "/v1/fileSystemSnapshots/$id2")" "404 CWSANDBOX_FSS_NOT_FOUND"
expect "delete twice" "$(status_reason DELETE "/v1/fileSystemSnapshots/$id2")" "404 CWSANDBOX_FSS_NOT_FOUND"
expect "allowMissing" "$(api DELETE "/v1/fileSystemSnapshots/$id2?allowMissing=true")" "{}"
note "snapshots ok"
