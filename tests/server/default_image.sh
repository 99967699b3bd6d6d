#!/bin/bash
# The default image (scripts/default-image, in SBX_IMAGE_DIR for tests): a
# spec without an image runs on it, not on the host's root. It has sh,
# coreutils, procps and python3 with pip and venv, and `pip install` works
# as root (PEP 668's marker is removed): a wheel from a local dir with
# --no-index, a source tree without build isolation, and a venv's own pip.
# Without the image, sbxd refuses the create with a message saying how to
# build it, and "host" is refused unless sbxd runs with --allow-host-image.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"

[ -n "$SBX_IMAGE_DIR" ] || fail "SBX_IMAGE_DIR not set (meson sets it)"
start_sbxd

d=$(create "$(sbx_body name=d)")
expect "image default echoed" "$(jget "$(api GET "/v1/sandboxes/$d")" 'j["spec"]["containers"][0]["image"]')" default
# The image's own tree: Debian's files, none of the host's checkout.
expect "debian" "$(exec_sh "$d" 'test -s /etc/debian_version && echo yes')" yes
expect "no host checkout" "$(exec_sh "$d" "test -e '$TESTS_DIR' || echo absent")" absent
expect "hostname file" "$(exec_sh "$d" 'cat /etc/hostname')" default
expect "sh coreutils procps" "$(exec_sh "$d" 'echo $((6*7)) | tr 4 x; ps -o comm= -p $$; seq 3 | tail -1')" "$(printf 'x2\nsh\n3')"
expect "awk (an alternatives link)" "$(exec_sh "$d" "echo a b | awk '{print \$2}'")" b
expect "python" "$(exec_out "$d" '["python3", "-c", "print(\"hello\")"]')" hello
expect "python version" "$(exec_sh "$d" 'readlink /usr/bin/python3')" python3.11
expect "ssl CA bundle" "$(exec_out "$d" '["python3", "-c", "import ssl; c = ssl.create_default_context(); print(len(c.get_ca_certs()) > 100)"]')" True

pipv=$(exec_sh "$d" 'python3 -m pip --version 2>&1')
case "$pipv" in pip\ 2*' from /usr/lib/python3/dist-packages/pip '*) ;; *) fail "pip --version: $pipv" ;; esac
[ -z "$(exec_sh "$d" 'ls /usr/lib/python3*/EXTERNALLY-MANAGED 2>/dev/null')" ] || fail "PEP 668 marker still there"

# A wheel made by hand (a zip with dist-info), installed from a local dir
# without any index, then imported from another process.
mkwheel='
import base64, hashlib, os, sys, zipfile
d, name = sys.argv[1], sys.argv[2]
os.makedirs(d, exist_ok=True)
files = {name + ".py": "def hi():\n    return \"hi from " + name + "\"\n",
         name + "-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n",
         name + "-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
rec = []
with zipfile.ZipFile(os.path.join(d, name + "-1.0-py3-none-any.whl"), "w") as z:
    for f, body in files.items():
        z.writestr(f, body)
        h = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()
        rec.append("%s,sha256=%s,%d" % (f, h, len(body)))
    rec.append(name + "-1.0.dist-info/RECORD,,")
    z.writestr(name + "-1.0.dist-info/RECORD", "\n".join(rec) + "\n")
'
body=$(python3 -c 'import json,sys; print(json.dumps({"command": ["python3", "-c", sys.argv[1], "/tmp/wh", "sbxhello"]}))' "$mkwheel")
api POST /v1/sandboxes/"$d":exec -d "$body" >/dev/null
out=$(exec_sh "$d" 'python3 -m pip install --no-index --find-links /tmp/wh sbxhello 2>&1; echo rc=$?')
case "$out" in *'Successfully installed sbxhello-1.0'*rc=0) ;; *) fail "pip install of a local wheel: $out" ;; esac
expect "installed module" "$(exec_out "$d" '["python3", "-c", "import sbxhello; print(sbxhello.hi(), sbxhello.__file__)"]')" \
	"hi from sbxhello /usr/local/lib/python3.11/dist-packages/sbxhello.py"
# Nothing of it reached the image on the host: the sandbox writes its own layer.
[ ! -e "$SBX_IMAGE_DIR/default/rootfs/usr/local/lib/python3.11/dist-packages/sbxhello.py" ] ||
	fail "pip install wrote into the shared image"

# A source tree (setuptools, no build isolation, no index).
out=$(exec_sh "$d" 'mkdir -p /tmp/src/sbxsrc && cd /tmp/src &&
printf "from setuptools import setup\nsetup(name=\"sbxsrc\", version=\"2.0\", packages=[\"sbxsrc\"])\n" >setup.py &&
echo "X = 7" >sbxsrc/__init__.py &&
python3 -m pip install --no-index --no-build-isolation /tmp/src 2>&1; echo rc=$?')
case "$out" in *'Successfully installed sbxsrc-2.0'*rc=0) ;; *) fail "pip install of a source tree: $out" ;; esac
expect "source install" "$(exec_out "$d" '["python3", "-c", "import sbxsrc; print(sbxsrc.X * 6)"]')" 42

# A venv with its own pip (ensurepip from the image's wheels), and the
# wheel installed into it only.
out=$(exec_sh "$d" 'python3 -m venv /tmp/v 2>&1 && /tmp/v/bin/pip install -q --no-index /tmp/wh/sbxhello-1.0-py3-none-any.whl 2>&1 &&
/tmp/v/bin/python -c "import sys, sbxhello; print(sys.prefix, sbxhello.hi())"; echo rc=$?')
expect "venv" "$out" "$(printf '/tmp/v hi from sbxhello\nrc=0')"

# "host" is an opt-in of sbxd's, refused by default with the way to enable it.
out=$(api POST /v1/sandboxes -d "$(sbx_body image=host)")
expect "host refused" "$(err_reason "$out")" CWSANDBOX_INVALID_REQUEST
case "$out" in *--allow-host-image*) ;; *) fail "host refusal does not say how: $out" ;; esac
stop_sbxd

# No default image: a clear refusal, never the host's root (an sbxd without
# --image-dir whose --default-image names an image nobody built).
SBX_IMAGE_DIR= start_sbxd --default-image missing
out=$(api POST /v1/sandboxes -d "$(sbx_body)")
expect "no default image" "$(err_reason "$out")" CWSANDBOX_INVALID_REQUEST
case "$out" in *'default image missing is not built'*scripts/default-image*) ;; *) fail "unhelpful: $out" ;; esac
expect "nothing created" "$(jget "$(api GET /v1/sandboxes)" 'len(j.get("sandboxes", []))')" 0
grep -q 'warning: the default image missing is not built' "$T/sbxd.log" || fail "no start-up warning"
note "default image ok"
