#!/bin/bash
# The OCI image store (issue 13): an image made here with umoci (a small
# rootfs from the default image's binaries, then a second layer that adds
# a file the host lacks, deletes a file (a whiteout) and replaces a dir (an
# opaque dir), with Env, WorkingDir, User and Entrypoint/Cmd) is imported
# by `sbxd image import` as a layout dir, an oci-archive and a
# docker-archive (skopeo), listed over GET /v1/images, and sandboxes are
# created from it by tag, name@digest and bare digest. An empty command
# runs the entrypoint. 20 sandboxes share its layers (the store does not
# grow). A malicious layer (.. path; an absolute symlink then a write
# through it) is refused and writes nothing outside the store (checked on
# the host). An unknown reference is NOT_FOUND with the references there.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"

command -v umoci >/dev/null || skip "needs umoci (scripts/setup --test)"
command -v skopeo >/dev/null || skip "needs skopeo (scripts/setup --test)"
[ -n "$SBX_IMAGE_DIR" ] || fail "SBX_IMAGE_DIR not set (meson sets it)"
ensure_default_image
R=$SBX_IMAGE_DIR/default/rootfs

# A tiny rootfs: dash, cat, env, id, ls, pwd and their libraries.
base=$T/base
mkdir -p "$base"/usr/bin "$base"/usr/lib/x86_64-linux-gnu "$base"/usr/lib64 "$base"/etc "$base"/tmp "$base"/opq
ln -s usr/bin "$base/bin"
ln -s usr/lib "$base/lib"
ln -s usr/lib64 "$base/lib64"
for b in dash cat env id ls pwd sleep; do cp -a "$R/usr/bin/$b" "$base/usr/bin/"; done
ln -s dash "$base/usr/bin/sh"
for l in $(ldd "$R"/usr/bin/{ls,id,dash,cat} | awk '/=>/{print $3} /ld-linux/{print $1}' | sort -u); do
	l=/usr${l#/usr}
	cp -L "$R$l" "$base$l"
done
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234::/:/bin/sh\n' >"$base/etc/passwd"
echo gone >"$base/etc/gone.txt"
echo old >"$base/opq/old"

marker="oci-marker-$RANDOM$RANDOM"
lay=$T/lay
(
	cd "$T"
	umoci init --layout lay
	umoci new --image lay:t1
	umoci unpack --image lay:t1 bun
	cp -a base/. bun/rootfs/
	umoci repack --refresh-bundle --image lay:t1 bun
	echo "$marker" >bun/rootfs/etc/oci-marker
	rm bun/rootfs/etc/gone.txt
	rm -rf bun/rootfs/opq
	mkdir -p bun/rootfs/opq bun/rootfs/work
	echo new >bun/rootfs/opq/new
	chown 1234:1234 bun/rootfs/work
	umoci repack --image lay:t1 bun
	umoci config --image lay:t1 --config.env OCI_TEST=hello --config.workingdir /work --config.user 1234 \
		--config.entrypoint /bin/sh --config.entrypoint -c \
		--config.cmd 'echo entry $OCI_TEST $(pwd) $(id -u)'
) >"$T/umoci.log" 2>&1 || { cat "$T/umoci.log" >&2; fail "umoci could not build the test image"; }
[ ! -e /etc/oci-marker ] || fail "the host has /etc/oci-marker: the test cannot tell"
ntar=$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]+"/index.json")); m=json.load(open(sys.argv[1]+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(len(m["layers"]))' "$lay")
expect "layers umoci made" "$ntar" 2

start_sbxd
# A layout that names only a tag needs a REF; with one it imports.
if "$SBXD" image import --state-dir "$STATE" "$lay" >"$T/imp.out" 2>&1; then fail "import without a name: $(cat "$T/imp.out")"; fi
grep -q "give a REF" "$T/imp.out" || fail "import without a name says: $(cat "$T/imp.out")"
out=$("$SBXD" image import --state-dir "$STATE" "$lay" tool:1) || fail "import: $out"
digest=$(awk '{print $2}' <<<"$out")
expect "import line" "$out" "docker.io/library/tool:1 $digest"
"$SBXD" image ls --state-dir "$STATE" | grep -q "^docker.io/library/tool:1 .*sha256:" || fail "image ls: $("$SBXD" image ls --state-dir "$STATE")"
imgs=$(api GET /v1/images)
expect "GET /v1/images" "$(jget "$imgs" '[i["references"] for i in j["images"] if i["digest"] == "'"$digest"'"][0]')" "['docker.io/library/tool:1']"
expect "layers listed" "$(jget "$imgs" 'j["images"][0]["layers"]')" 2
expect "announced" "$(jget "$(api GET /v1/extensions)" '"images" in j["extensions"]')" true
# sbxd.ext.v1.ListImagesResponse (extension.proto): int64 sizeBytes as a
# string, the config's digest, created as a canonical Timestamp; strict in.
img0='[i for i in j["images"] if i["digest"] == "'"$digest"'"][0]'
expect "sizeBytes is an int64 string" "$(jget "$imgs" 'isinstance('"$img0"'["sizeBytes"], str) and int('"$img0"'["sizeBytes"]) > 0')" true
expect "configDigest" "$(jget "$imgs" 'bool(__import__("re").fullmatch("sha256:[0-9a-f]{64}", '"$img0"'["configDigest"]))')" true
expect "created" "$(jget "$imgs" 'bool(__import__("re").fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3}|\.[0-9]{6}|\.[0-9]{9})?Z", '"$img0"'["created"]))')" true
size=$(jget "$imgs" "$img0"'["sizeBytes"]')
r=$(api GET '/v1/images?bogus=1')
expect "unknown query parameter" "$(jget "$r" 'j["code"]')" 3
expect "it is named" "$(jget "$r" '[v["field"] for d in j["details"] for v in d.get("fieldViolations", [])]')" "['bogus']"
expect "POST is no route" "$(api_status POST /v1/images)" 404

# By tag: the file, the env, the workdir, the user, the whiteout, the opaque dir.
id=$(create "$(sbx_body name=b image=docker.io/library/tool:1 -- sleep 1000)")
wait_state "$id" STATE_RUNNING 10
expect "file of the image" "$(exec_out "$id" '["cat", "/etc/oci-marker"]')" "$marker"
expect "env of the image" "$(exec_sh "$id" 'echo $OCI_TEST')" hello
expect "workdir of the image" "$(exec_sh "$id" 'pwd')" /work
expect "user of the image" "$(exec_sh "$id" 'id -u; id -g')" "$(printf '1234\n1234')"
expect "whited-out file" "$(exec_sh "$id" 'test -e /etc/gone.txt && echo there || echo absent')" absent
expect "opaque dir" "$(exec_sh "$id" 'ls /opq')" new
# By name@digest and by bare digest; the entrypoint runs when command is empty.
for ref in "tool@$digest" "$digest"; do
	id=$(create "$(sbx_body image="$ref")")
	wait_state "$id" STATE_COMPLETED 10
	expect "entrypoint ($ref)" "$(api GET "/v1/sandboxes/$id/stdout")" "entry hello /work 1234"
done
# A spec env overrides the image's.
id=$(create "$(sbx_body image=tool:1 env=OCI_TEST=mine)")
wait_state "$id" STATE_COMPLETED 10
expect "spec env wins" "$(api GET "/v1/sandboxes/$id/stdout")" "entry mine /work 1234"

# Unknown: NOT_FOUND, with the reason and what exists.
# (not python:3.11: the default image serves that one, see real_surface)
r=$(api POST /v1/sandboxes -d "$(sbx_body image=python:3.12)")
expect "unknown image reason" "$(err_reason "$r")" CWSANDBOX_INVALID_REQUEST
case "$(jget "$r" 'j["message"]')" in
*docker.io/library/python:3.12*docker.io/library/tool:1*) ;;
*) fail "unknown image message: $r" ;;
esac

# 20 sandboxes from one image: the layers on disk do not grow.
du0=$(du -sk "$STATE/oci" | cut -f1)
ids=()
for _ in $(seq 1 20); do
	ids+=("$(create "$(sbx_body image=tool:1 -- sleep 1000)")")
done
for id in "${ids[@]}"; do wait_state "$id" STATE_RUNNING 20; done
expect "a write in one of them" "$(exec_sh "${ids[0]}" 'echo x >/work/mine; cat /work/mine')" x
expect "stays in its own layer" "$(exec_sh "${ids[1]}" 'ls /work')" ""
du1=$(du -sk "$STATE/oci" | cut -f1)
[ "$du1" -le $((du0 + 64)) ] || fail "the store grew from $du0 to $du1 KiB with 20 sandboxes"
note "store ${du0} KiB before, ${du1} KiB with 20 sandboxes"
for id in "${ids[@]}"; do api DELETE "/v1/sandboxes/$id" >/dev/null; done

# The archives skopeo writes: oci-archive and docker-archive.
skopeo copy -q "oci:$lay:t1" "oci-archive:$T/img.oci.tar:t1" >"$T/skopeo.log" 2>&1 || { cat "$T/skopeo.log" >&2; fail "skopeo oci-archive"; }
skopeo copy -q "oci:$lay:t1" "docker-archive:$T/img.docker.tar:example.com/org/tool:2" >>"$T/skopeo.log" 2>&1 || { cat "$T/skopeo.log" >&2; fail "skopeo docker-archive"; }
out=$("$SBXD" image import --state-dir "$STATE" "$T/img.oci.tar" ghcr.io/org/tool:3) || fail "oci-archive import: $out"
expect "oci-archive keeps the digest" "$(awk '{print $2}' <<<"$out")" "$digest"
out=$("$SBXD" image import --state-dir "$STATE" "$T/img.docker.tar") || fail "docker-archive import: $out"
case "$out" in "example.com/org/tool:2 sha256:"*) ;; *) fail "docker-archive import: $out" ;; esac
for ref in ghcr.io/org/tool:3 example.com/org/tool:2; do
	id=$(create "$(sbx_body image="$ref")")
	wait_state "$id" STATE_COMPLETED 10
	expect "entrypoint ($ref)" "$(api GET "/v1/sandboxes/$id/stdout")" "entry hello /work 1234"
done
# The oci-archive has the layout's gzip blobs: no new layer. skopeo's
# docker-archive holds the layers uncompressed, other blobs: two more.
nl=$(ls "$STATE/oci/l" | wc -l)
expect "layers unpacked once per blob across the three imports" "$nl" 4

# A digest that does not match its blob is refused (in a fresh store: one
# that has the blob already takes its own verified copy).
bad=$T/badlay
cp -a "$lay" "$bad"
cfgd=$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]+"/index.json")); m=json.load(open(sys.argv[1]+"/blobs/sha256/"+i["manifests"][0]["digest"][7:])); print(m["layers"][1]["digest"][7:])' "$bad")
printf 'x' >>"$bad/blobs/sha256/$cfgd"
if out=$("$SBXD" image import --state-dir "$T/state2" "$bad" tampered:1 2>&1); then fail "a tampered layer was imported: $out"; fi
case "$out" in *mismatch*) ;; *) fail "tampered layer: $out" ;; esac

# Malicious layers: "../" paths and a symlink out, then a write through it.
victim=$T/victim
mkdir -p "$victim"
evil() { # evil NAME PYTHON-ADDING-MEMBERS
	python3 - "$T/$1" "$victim" "$2" <<'EOF'
import hashlib, io, json, os, sys, tarfile
out, victim, code = sys.argv[1], sys.argv[2], sys.argv[3]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    def add(name, data=b"pwned\n", kind=tarfile.REGTYPE, link=""):
        ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = link; ti.size = len(data) if kind == tarfile.REGTYPE else 0
        t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    exec(code)
layer = buf.getvalue()
mt = "application/vnd.oci.image.layer.v1.tar"
if os.environ.get("ZSTD"):
    import subprocess
    layer = subprocess.run(["zstd", "-q", "-c"], input=layer, stdout=subprocess.PIPE, check=True).stdout
    mt += "+zstd"
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def put(b):
    d = hashlib.sha256(b).hexdigest(); open(out + "/blobs/sha256/" + d, "wb").write(b); return "sha256:" + d, len(b)
cd, cs = put(json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode())
ld, ls = put(layer)
md, ms = put(json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": [{"mediaType": mt, "digest": ld, "size": ls}]}).encode())
open(out + "/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
open(out + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms}]}))
EOF
}
evil dotdot 'add("ok"); add("../../../../../../../../" + victim.lstrip("/") + "/dotdot")'
evil abs 'add(victim + "/abs")'
evil symlink 'add("esc", kind=tarfile.SYMTYPE, link=victim); add("esc/through")'
evil hardlink 'add("h", kind=tarfile.LNKTYPE, link="../../../../../../etc/passwd")'
for e in dotdot abs symlink hardlink; do
	if out=$("$SBXD" image import --state-dir "$STATE" "$T/$e" "evil:$e" 2>&1); then fail "malicious layer $e imported: $out"; fi
	case "$out" in *refused*) ;; *) fail "malicious layer $e: $out" ;; esac
done
[ -z "$(ls -A "$victim")" ] || fail "a malicious layer wrote outside the store: $(ls -A "$victim")"
[ -z "$(ls -A "$STATE/oci/tmp")" ] || fail "a refused import left $(ls -A "$STATE/oci/tmp")"
r=$(api POST /v1/sandboxes -d "$(sbx_body image=evil:symlink)")
expect "a refused image is not there" "$(err_reason "$r")" CWSANDBOX_INVALID_REQUEST
# Device nodes in a layer are skipped, the rest imports.
evil dev 'add("null", kind=tarfile.CHRTYPE); add("fine")'
"$SBXD" image import --state-dir "$STATE" "$T/dev" dev:1 >/dev/null || fail "a layer with a device node was refused"
n=$(ls "$STATE/oci/l" | wc -l)
lastl=$(ls "$STATE/oci/l" | sort -n | tail -1)
[ -f "$STATE/oci/l/$lastl/fine" ] && [ ! -e "$STATE/oci/l/$lastl/null" ] || fail "device node layer: $(ls -la "$STATE/oci/l/$lastl")"
expect "layers" "$n" 5
# A zstd layer (tar+zstd) unpacks too.
if command -v zstd >/dev/null; then
	ZSTD=1 evil zst 'add("zfile", b"zstd-ok\n")'
	"$SBXD" image import --state-dir "$STATE" "$T/zst" zst:1 >/dev/null || fail "a zstd layer was refused"
	lastl=$(ls "$STATE/oci/l" | sort -n | tail -1)
	expect "zstd layer content" "$(cat "$STATE/oci/l/$lastl/zfile")" zstd-ok
	"$SBXD" image rm --state-dir "$STATE" zst:1 >/dev/null
else
	note "no zstd: the tar+zstd case is not tried"
fi

# rm: a reference goes; the image's last one takes the record; layers are
# freed at the next start (sbxd runs now).
"$SBXD" image rm --state-dir "$STATE" dev:1 | grep -q "next start" || fail "rm while sbxd runs"
r=$(api POST /v1/sandboxes -d "$(sbx_body image=dev:1)")
expect "removed reference" "$(err_reason "$r")" CWSANDBOX_INVALID_REQUEST
stop_sbxd
start_sbxd
expect "its layer freed at start" "$(ls "$STATE/oci/l" | wc -l)" 4
id=$(create "$(sbx_body image=tool:1)")
wait_state "$id" STATE_COMPLETED 10
expect "the other images still run" "$(api GET "/v1/sandboxes/$id/stdout")" "entry hello /work 1234"

# scripts/oci-image: the default image's tree as an ordinary reference.
"$TESTS_DIR/../scripts/oci-image" --state-dir "$STATE" --sbxd "$SBXD" "$R" python:3.11 >"$T/oci-image.log" 2>&1 ||
	{ cat "$T/oci-image.log" >&2; fail "scripts/oci-image"; }
id=$(create "$(sbx_body name=py image=python:3.11)")
wait_state "$id" STATE_RUNNING 20
expect "python from the OCI store" "$(exec_out "$id" '["python3", "-c", "print(6*7)"]')" 42
expect "an image without entrypoint is idle" "$(state_of "$id")" STATE_RUNNING

# The mount's root lists the store's references in `images`.
mount_sbxfs
find "$MNT" -maxdepth 1 -name images -type f | grep -q . || fail "no images at the mount root: $(ls "$MNT")"
grep -q "^docker.io/library/tool:1 $digest 2 $size$" "$MNT/images" || fail "images file: $(cat "$MNT/images")"
grep -q "^docker.io/library/python:3.11 sha256:" "$MNT/images" || fail "images file: $(cat "$MNT/images")"
umount_sbxfs
