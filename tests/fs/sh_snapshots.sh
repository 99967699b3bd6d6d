#!/usr/bin/env bash
# Filesystem snapshots through the mount (issue 13): files of several
# sizes, a symlink, a hard link, modes and an mtime written into a scratch
# volume through NAME/files/; `echo snapshot data > NAME/ctl` takes one,
# NAME/snapshots gives its id back; the root's snapshots/ directory has an
# entry per id (ls -l, the schema's FileSystemSnapshot as JSON when read,
# ENOENT for an unknown id) and snapshots/.all a line each with its state
# until ready; `rmdir` deletes the sandbox, a JSON spec written to `new`
# with restoreFromSnapshotId makes another, and every file reads back
# byte-identical (sha256) with its metadata. A volume the sandbox has not
# and an unknown snapshot id fail the write, the error file says why.
# rm snapshots/ID deletes the snapshot (DeleteFileSystemSnapshot): gone
# from the listing, from .all and from a restore.
. "$TESTS_DIR/fs/common.sh"
up

spec() {
	python3 -c '
import json, sys
s = {"size": "32Mi"}
if len(sys.argv) > 1: s["restoreFromSnapshotId"] = sys.argv[1]
print(json.dumps({"volumes": [{"name": "data", "scratch": s}],
                  "volumeMounts": [{"volume": "data", "mountPath": "/data"}]}))' "$@"
}
# manifest DIR: every entry below DIR as stat(2) through the mount shows it
manifest() {
	python3 - "$1" <<'PY'
import hashlib, os, stat, sys
top = sys.argv[1]
out = []
for root, dirs, files in os.walk(top):
    for n in sorted(dirs + files):
        p = os.path.join(root, n)
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            h = "->" + os.readlink(p)
        else:
            h = "-"
        out.append("%s %o %d %d %d %s" % (os.path.relpath(p, top), st.st_mode,
                   0 if stat.S_ISDIR(st.st_mode) else st.st_size, st.st_mtime_ns, st.st_nlink, h))
print("\n".join(sorted(out)))
PY
}

box=$(new_box "$(spec)")
eq "$(cat "$MNT/$box/status")" running "box with a volume"
v=$MNT/$box/files/data
head -c 2000000 /dev/urandom >"$T/big"
cp "$T/big" "$v/big.bin"
printf hello >"$v/small"
mkdir -p "$v/d/e"
printf deep >"$v/d/e/f"
ln -s ../small "$v/d/link"
ln "$v/small" "$v/hard"
chmod 0751 "$v/big.bin"
chmod 0400 "$v/d/e/f"
touch -d @1234567890 "$v/small"
before=$(manifest "$v")
printf '%s\n' "$before" | grep -q '^hard 100644 5 1234567890000000000 2 ' || fail "setup: $before"

echo snapshot data >"$MNT/$box/ctl"
line=$(tail -n 1 "$MNT/$box/snapshots")
id=${line%% *}
case "$id" in fss-*) ;; *) fail "no snapshot id read back: '$line'" ;; esac
all=$MNT/snapshots/.all
[ -d "$MNT/snapshots" ] || fail "the root's snapshots is no directory"
for _ in $(seq 300); do
	now=$(cat "$all")   # one read per round: the state may move between two
	grep -q "^$id ready " <<<"$now" && break
	grep -q "^$id creating " <<<"$now" || fail "snapshot not creating or ready: $now"
	sleep 0.1
done
grep -q "^$id ready [0-9]* .* data manual$" "$all" || fail "not ready: $(cat "$all")"

# the directory: one entry per id, a read-only file, its JSON the service's
eq "$(ls "$MNT/snapshots")" "$id" "snapshots/ lists the one snapshot"
ls -l "$MNT/snapshots" | grep -q "^-r--r--r-- .* $id$" || fail "ls -l snapshots/: $(ls -l "$MNT/snapshots")"
[ -f "$MNT/snapshots/$id" ] || fail "stat snapshots/$id"
python3 - "$MNT/snapshots/$id" "$id" <<'PY' || fail "snapshots/$id: $(cat "$MNT/snapshots/$id")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["fileSystemSnapshotId"] == sys.argv[2], d
assert d["state"].endswith("READY"), d
assert int(d["sizeBytes"]) > 2000000, d
assert d["sourceVolumeName"] == "data", d
PY
# an unknown id and a name no id has are not there, .all is no snapshot
out=$(stat "$MNT/snapshots/fss-0000000000000000" 2>&1) && fail "stat of an unknown id: $out"
case "$out" in *"No such file"*) ;; *) fail "stat of an unknown id: $out" ;; esac
out=$(stat "$MNT/snapshots/not an id" 2>&1) && fail "stat of a bad name: $out"
case "$out" in *"No such file"*) ;; *) fail "stat of a bad name: $out" ;; esac
out=$(rm -f "$MNT/snapshots/.all" 2>&1) && fail "rm .all: $out"
case "$out" in *"not permitted"*) ;; *) fail "rm .all: $out" ;; esac

# errors: a volume the sandbox has not, an unknown snapshot to restore
write_fails "$MNT/$box/ctl" "snapshot nope" "Invalid argument"
grep -q 'no scratch volume' "$MNT/$box/error" || fail "error file: $(cat "$MNT/$box/error")"
write_fails "$MNT/new" "$(spec fss-0000000000000000)" "No such file"
grep -q 'fss-0000000000000000 not found' "$MNT/error" || fail "root error file: $(cat "$MNT/error")"

rmdir "$MNT/$box"
box2=$(new_box "$(spec "$id")")
eq "$(cat "$MNT/$box2/status")" running "restored box"
after=$(manifest "$MNT/$box2/files/data")
[ "$after" = "$before" ] || fail "restored tree differs:
$(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after"))"
cmp "$T/big" "$MNT/$box2/files/data/big.bin" || fail "big.bin differs"
rmdir "$MNT/$box2"

# an rm -rf of the whole mount does not walk into snapshots/ (listed as a
# link, as files/ is), so it deletes no snapshot
rm -rf "${MNT:?}" 2>/dev/null || true
eq "$(ls "$MNT/snapshots")" "$id" "snapshot kept through rm -rf of the mount"
[ -d "$MNT/snapshots" ] || fail "snapshots/ no directory after rm -rf"

# rm snapshots/ID: the service deletes it; gone from every view and from restores
rm "$MNT/snapshots/$id"
[ -z "$(ls "$MNT/snapshots")" ] || fail "still listed after rm: $(ls "$MNT/snapshots")"
grep -q "^$id " "$all" && fail "still in .all after rm: $(cat "$all")"
out=$(stat "$MNT/snapshots/$id" 2>&1) && fail "stat after rm: $out"
out=$(rm "$MNT/snapshots/$id" 2>&1) && fail "second rm: $out"
case "$out" in *"No such file"*) ;; *) fail "second rm: $out" ;; esac
write_fails "$MNT/new" "$(spec "$id")" "No such file"
echo ok
