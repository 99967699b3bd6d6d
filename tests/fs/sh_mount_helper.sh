#!/usr/bin/env bash
# sbxfs as mount(8) runs it: `mount -t fuse.sbxfs SOURCE DIR -o ...` calls
# mount.fuse3, which runs `sbxfs SOURCE DIR -o ...` (daemonized); a SOURCE
# URL is the service. Also --help and --version.
. "$TESTS_DIR/fs/common.sh"
command -v mount.fuse3 >/dev/null || skip "no mount.fuse3"
[ -c /dev/fuse ] || skip "no /dev/fuse"
start_sbxd

# (whole, then grep: grep -q closing the pipe early would SIGPIPE sbxfs)
"$SBXFS" --help >"$T/help" 2>&1 || true
grep -q "url=URL" "$T/help" || fail "--help does not list url="
"$SBXFS" --version | grep -q "^sbxfs " || fail "--version"
if "$SBXFS" 2>/dev/null; then fail "sbxfs without a mount point succeeded"; fi

M2=$T/mnt2
mkdir -p "$M2"
trap 'rc=$?; fusermount3 -u "$M2" 2>/dev/null || true; if [ $rc -eq 0 ]; then _cleanup; else (exit $rc) || _cleanup; fi' EXIT
# mount(8) runs helpers with a fixed PATH; call its helper directly with
# ours so the freshly built sbxfs is the one found.
PATH="$(dirname "$SBXFS"):$PATH" mount.fuse3 "unix:$SOCK" "$M2" -t fuse.sbxfs -o timeout=5
mountpoint -q "$M2" || fail "mount.fuse3 did not mount"
grep -q " $M2 fuse.sbxfs " /proc/mounts || fail "not listed as fuse.sbxfs: $(grep "$M2" /proc/mounts)"
mkdir "$M2/viamount"
echo 'echo through mount' >"$M2/viamount/exec/new"
eq "$(cat "$M2/viamount/exec/last/stdout")" "through mount" "output"
pid=$(pgrep -f "sbxfs unix:$SOCK $M2|sbxfs $M2" | head -1 || true)
fusermount3 -u "$M2"
mountpoint -q "$M2" && fail "still mounted"
if [ -n "$pid" ]; then
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && fail "daemon still running after unmount"
fi
echo ok
