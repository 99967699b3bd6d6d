#!/usr/bin/env bash
# Mount options give mkdir's sandboxes their image, network, lifetime and
# resources, shown in `info`; a bad value fails the mount with a message.
. "$TESTS_DIR/fs/common.sh"

rootfs=$STATE/images/mini/rootfs
mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/dev" "$rootfs/etc"
cp "$(readlink -f /bin/sh)" "$rootfs/bin/sh"
for lib in $(ldd "$(readlink -f /bin/sh)" | grep -oE '/[^ ]+'); do
	mkdir -p "$rootfs$(dirname "$lib")"
	cp "$(readlink -f "$lib")" "$rootfs$lib"
done
echo from-mini >"$rootfs/etc/marker"
start_sbxd

# a bad default fails at mount, not at the first mkdir
mkdir -p "$T/bad"
if out=$(timeout 10 "$SBXFS" "$T/bad" -f -o "url=unix:$SOCK,cpu=lots" 2>&1); then
	fusermount3 -u "$T/bad" 2>/dev/null
	fail "a mount with cpu=lots worked"
fi
printf '%s\n' "$out" | grep -q "cpu" || fail "cpu=lots: '$out'"
if out=$(timeout 10 "$SBXFS" "$T/bad" -f -o "url=unix:$SOCK,network=maybe" 2>&1); then
	fusermount3 -u "$T/bad" 2>/dev/null
	fail "a mount with network=maybe worked"
fi
printf '%s\n' "$out" | grep -q "none or egress" || fail "network=maybe: '$out'"

mount_sbxfs -o image=mini,network=none,lifetime=120,cpu=500m,memory=256Mi
mkdir "$MNT/box"
info=$(cat "$MNT/box/info")
printf '%s\n' "$info" | grep -q '"image": *"mini"' || fail "image not in info: $info"
printf '%s\n' "$info" | grep -Eq '"maxLifetimeSeconds": *"?120"?' || fail "lifetime not in info: $info"
printf '%s\n' "$info" | grep -q '"cpu": *"500m"' || fail "cpu not in info: $info"
printf '%s\n' "$info" | grep -q '"memory": *"256Mi"' || fail "memory not in info: $info"
id=$(start_proc box 'read x </etc/marker; echo $x')
eq "$(timeout 10 cat "$MNT/box/exec/$id/stdout")" from-mini "a process in mkdir's image"
# a JSON spec written to new keeps its own choices
printf '%s\n' '{"name": "own"}' >"$MNT/new"
cat "$MNT/own/info" | grep -q '"image": *"mini"' && fail "mkdir's image leaked into new"
echo ok
