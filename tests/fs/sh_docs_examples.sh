#!/usr/bin/env bash
# The docs' shell examples are tested code: every ```sh block of README.md
# and docs/filesystem.md runs, as written, in document order, under /bin/sh
# (POSIX: dash here), against a fresh sbxd; /mnt/sbx is this test's mount
# point (the examples mount it themselves). How blocks are found and marked
# (file=, skip) is in tests/fs/doc_examples.py.
. "$TESTS_DIR/fs/common.sh"
[ -c /dev/fuse ] || skip "no /dev/fuse"
command -v fusermount3 >/dev/null || skip "no fusermount3"
command -v python3 >/dev/null || skip "no python3"
start_sbxd
mkdir -p "$MNT" "$T/bin" "$T/work"
trap 'rc=$?; set +e; mountpoint -q "$MNT" && fusermount3 -u "$MNT"; set +e; (exit $rc); _cleanup' EXIT

ROOT=$TESTS_DIR/..
counts=$(python3 "$TESTS_DIR/fs/doc_examples.py" "$T/examples.sh" "$T/bin" "$MNT" "$SOCK" \
	"$ROOT/docs/filesystem.md" "$ROOT/README.md") || fail "the docs' code blocks break the rules above"
note "examples: $counts"
read -r _ nrun _ nfile _ nskip <<<"$counts"
[ "$nrun" -ge 6 ] || fail "only $nrun examples run: the extraction lost some"
[ "$nskip" -le 3 ] || fail "$nskip examples are marked skip: make them runnable"

# The examples mount with this build's sbxfs, daemonized, as a user would.
set +e
(cd "$T/work" && PATH="$T/bin:$(dirname "$SBXFS"):$PATH" CWSANDBOX_BASE_URL="unix:$SOCK" \
	timeout 150 sh "$T/examples.sh") >"$T/examples.out" 2>"$T/examples.err"
rc=$?
set -e
if [ $rc -ne 0 ]; then
	echo "--- stdout" >&2; tail -20 "$T/examples.out" >&2
	echo "--- stderr" >&2; tail -20 "$T/examples.err" >&2
	fail "an example failed (exit $rc) in the last block named above: $(grep '^###' "$T/examples.err" | tail -1)"
fi
echo ok
