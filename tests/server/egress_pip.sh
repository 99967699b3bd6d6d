#!/bin/bash
# The seed's flow with network, on the default image (python3, pip, venv,
# built from Debian packages by scripts/default-image; PEP 668's marker
# removed there, so a plain `pip install` works): an idle sandbox whose one
# egress rule names the fake outside host (fakenet.sh) by DNS name and
# port, `pip install` of a small pure-python wheel made here from a local
# index that the outside host serves, then `python3 -c "print('hello')"`.
# Nothing leaves the machine: the sandbox's resolver is the test's own.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
. "$TESTS_DIR/server/fakenet.sh"

[ -n "$SBX_IMAGE_DIR" ] || fail "SBX_IMAGE_DIR not set (meson sets it)"

# A wheel and a PEP 503 index for it.
mkdir -p "$T/index/simple/sbxhello" "$T/index/files"
python3 - "$T/index/files/sbxhello-1.0-py3-none-any.whl" <<'EOF'
import base64, hashlib, sys, zipfile
files = {
    "sbxhello/__init__.py": "def hi():\n    return 'hi from the outside'\n",
    "sbxhello-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: sbxhello\nVersion: 1.0\n",
    "sbxhello-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: sbxfs-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
    record.append("sbxhello-1.0.dist-info/RECORD,,")
    z.writestr("sbxhello-1.0.dist-info/RECORD", "\n".join(record) + "\n")
EOF
cat >"$T/index/simple/sbxhello/index.html" <<'EOF'
<!DOCTYPE html><html><body>
<a href="../../files/sbxhello-1.0-py3-none-any.whl">sbxhello-1.0-py3-none-any.whl</a>
</body></html>
EOF
nsenter --net="/run/netns/$NET_O" python3 -m http.server -b "$OUT_IP" 8000 -d "$T/index" >"$T/http.log" 2>&1 &
_net_pids+=($!)
wait_for 10 grep -q "Serving HTTP" "$T/http.log"
start_sbxd

pip_id=$(create "$(sbx_body name=pip 'net={"egress":[{"dnsName":"outside.test","ports":[{"port":8000}]}]}')")
out=$(exec_sh "$pip_id" 'python3 -m pip install --no-cache-dir --disable-pip-version-check \
	--index-url http://outside.test:8000/simple/ --trusted-host outside.test sbxhello 2>&1; echo "rc=$?"')
case "$out" in
*"Successfully installed sbxhello-1.0"*"rc=0") ;;
*) fail "pip install: $out" ;;
esac
grep -q 'GET /files/sbxhello-1.0-py3-none-any.whl' "$T/http.log" || fail "the outside host served no wheel"
expect "the package works" "$(exec_sh "$pip_id" 'python3 -c "import sbxhello; print(sbxhello.hi())"')" "hi from the outside"
expect "hello" "$(exec_out "$pip_id" '["python3", "-c", "print(\"hello\")"]')" hello
# the rule allowed that one port of that one name, nothing else
expect "other port" "$(probe pip outside.test 8100)" ECONNREFUSED
expect "host's own address" "$(probe pip "$HOST_IP" 8000)" ECONNREFUSED
note "egress pip ok"
