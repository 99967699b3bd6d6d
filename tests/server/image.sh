#!/bin/bash
# Images: a sandbox runs on STATE_DIR/images/NAME/rootfs (here a tiny one
# made of dash and its libraries), sees that tree and not the host's, and
# an unknown image is refused naming the images that exist. Images in
# STATE_DIR/images and in an --image-dir (here the tests' default image)
# both count. "host" is the host's / and needs --allow-host-image.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"

rootfs=$STATE/images/mini/rootfs
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/dev" "$rootfs/etc"
cp "$(readlink -f /bin/sh)" "$rootfs/bin/sh"
for lib in $(ldd "$(readlink -f /bin/sh)" | grep -oE '/[^ ]+'); do
	mkdir -p "$rootfs$(dirname "$lib")"
	cp "$(readlink -f "$lib")" "$rootfs$lib"
done
echo "from-the-image" >"$rootfs/etc/marker"
start_sbxd --allow-host-image

create "$(sbx_body name=mini image=mini)" >/dev/null
expect "image file" "$(exec_sh "$(sbx_id mini)" 'read x </etc/marker; echo $x')" from-the-image
expect "host tree absent" "$(exec_sh "$(sbx_id mini)" 'if [ -e /usr/bin/curl ]; then echo host; else echo image; fi')" image
# the main command runs in the image too
id=$(create "$(sbx_body image=mini -- /bin/sh -c 'read x </etc/marker; echo main-$x')")
api GET "/v1/sandboxes/$id:wait?waitSeconds=20" >/dev/null
expect "main in image" "$(api GET "/v1/sandboxes/$id/stdout")" main-from-the-image
# "host" is the host's / (read-only under a private layer), on opt-in;
# no image is the default one, never the host's
create "$(sbx_body name=h image=host)" >/dev/null
expect "host image" "$(exec_sh "$(sbx_id h)" 'if [ -e /usr/bin/curl ]; then echo host; else echo image; fi')" host
create "$(sbx_body name=d)" >/dev/null
expect "no image: the default" "$(exec_sh "$(sbx_id d)" 'if [ -e /usr/bin/curl ]; then echo host; else cat /etc/hostname; fi')" default
out=$(api POST /v1/sandboxes -d "$(sbx_body image=nope)")
expect "unknown image" "$(err_reason "$out")" CWSANDBOX_INVALID_REQUEST
case "$(jget "$out" 'j["message"]')" in
*"default, mini"*) ;;
*) fail "message does not name the existing image: $out" ;;
esac
note "image ok"
