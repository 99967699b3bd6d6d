#!/usr/bin/env bash
# scripts/make-image builds an image from Debian packages, and the runtime
# runs a sandbox on it: the image's own files are there, the host's are not,
# an unknown image is refused with the names that exist. The directory form
# (--dir) is what the runtime runs here; the default output, the OCI store,
# holds the image as a reference (NAME, or --ref) and leaves no tree. Skips (77) only
# when the Debian archive cannot be reached for the .debs.
. "$TESTS_DIR/lib.sh"

RT_RUN=$BUILD_DIR/tests/runtime/rt_run
MAKE_IMAGE=$TESTS_DIR/../scripts/make-image
[ -x "$RT_RUN" ] || fail "no $RT_RUN"

if ! out=$("$MAKE_IMAGE" --state-dir "$STATE" --dir --cache "$T/debs" tiny 2>&1); then
	if grep -q 'download failed\|cannot resolve' <<<"$out"; then
		skip "no access to the Debian archive: $(tail -1 <<<"$out")"
	fi
	echo "$out" >&2
	fail "make-image failed"
fi
note "$(tail -1 <<<"$out")"
[ -d "$STATE/images/tiny/rootfs/usr" ] || fail "no rootfs"
grep -q '^dash=' "$STATE/images/tiny/packages" || fail "packages list lacks dash"

# A second build of the same name is refused without --force.
if "$MAKE_IMAGE" --state-dir "$STATE" --dir --cache "$T/debs" tiny >/dev/null 2>&1; then
	fail "rebuilt an existing image without --force"
fi
"$MAKE_IMAGE" --state-dir "$STATE" --cache "$T/debs" 'bad/name' >/dev/null 2>&1 && fail "accepted a bad name"

# The default output: the store of the state dir, as references, no tree.
SBXD_BIN=$BUILD_DIR/server/sbxd
for r in tools tools:1.0; do
	"$MAKE_IMAGE" --state-dir "$STATE" --sbxd "$SBXD_BIN" --cache "$T/debs" --ref "$r" tools >"$T/mk.out" 2>&1 ||
		{ cat "$T/mk.out" >&2; fail "make-image into the store (--ref $r)"; }
done
refs=$("$SBXD_BIN" image ls --state-dir "$STATE")
grep -q '^docker.io/library/tools:latest ' <<<"$refs" || fail "no tools:latest in the store: $refs"
grep -q '^docker.io/library/tools:1.0 ' <<<"$refs" || fail "no tools:1.0 in the store: $refs"
[ ! -e "$STATE/images/tools" ] || fail "the store form left a directory image"
[ -z "$(ls -A "$STATE/images" | grep -v -x -e tiny -e .debs)" ] || fail "temp trees left: $(ls -A "$STATE/images")"
"$MAKE_IMAGE" --state-dir "$STATE" --oci-store "$STATE" tiny >/dev/null 2>&1 &&
	fail "--oci-store without the directory form accepted"

got=$("$RT_RUN" -s "$STATE" -I img-box -i tiny -- sh -c 'cat /etc/debian_version >/dev/null && echo $((6*7)); test -e /work || echo no-host-work; id -un; ps -e | wc -l')
[ "$(head -3 <<<"$got")" = "$(printf '42\nno-host-work\nroot')" ] || fail "sandbox on image: got '$got'"
# ps -e sees init, sh, ps and wc only (plus its header line)
n=$(tail -1 <<<"$got")
[ "$n" -le 5 ] || fail "ps in the image saw $n lines"

# With egress, an image resolves names through the stack's forwarder (the
# host's resolv.conf may name its loopback, out of the sandbox's reach).
got=$("$RT_RUN" -s "$STATE" -I img-box -i tiny -n -- cat /etc/resolv.conf)
grep -qx "nameserver 10.0.2.3" <<<"$got" || fail "resolv.conf in an egress sandbox: '$got'"

# The image's root is private: writes do not reach the image tree.
"$RT_RUN" -s "$STATE" -I img-box -i tiny -- sh -c 'echo x > /etc/written-inside' || fail "write inside failed"
[ ! -e "$STATE/images/tiny/rootfs/etc/written-inside" ] || fail "a sandbox wrote into the image"

if err=$("$RT_RUN" -s "$STATE" -I img-box -i nope -- true 2>&1); then
	fail "unknown image accepted"
fi
grep -q "unknown image 'nope' (images: tiny)" <<<"$err" || fail "unhelpful error: $err"

# Nothing of the sandboxes is left: scratch dirs and cgroups.
[ -z "$(ls -A "$STATE/run" 2>/dev/null)" ] || fail "scratch left: $(ls "$STATE/run")"
for h in memory pids cpu unified; do
	if ls -d /sys/fs/cgroup/$h/sbxd-*/img-box 2>/dev/null | grep -q .; then
		# another instance may use the id; ours is keyed by the state dir
		for d in /sys/fs/cgroup/$h/sbxd-*/img-box; do
			[ -d "$d" ] || continue
			grep -q . "$d/cgroup.procs" 2>/dev/null && fail "processes left in $d"
		done
	fi
done
echo "ok"
