#!/usr/bin/env bash
# scripts/test reports only what it saw: a test name that selects nothing
# is a failure (meson says "No suitable tests defined." and exits 0), a
# stale results file from an earlier run is not counted, and meson failing
# by itself is a failure. Runs scripts/test on this build dir
# (--build-dir: no set-up, no build) with tiny selections.
. "$TESTS_DIR/fs/common.sh"
: "${BUILD_DIR:?}"
ST="$TESTS_DIR/../scripts/test"

# A stale log that claims 64 passes, under the name scripts/test once used.
mkdir -p "$BUILD_DIR/meson-logs"
for i in $(seq 64); do echo '{"name": "stale", "result": "OK"}'; done >"$BUILD_DIR/meson-logs/scripts-test-given.json"
trap 'rc=$?; rm -f "$BUILD_DIR/meson-logs/scripts-test-given.json"; set +e; (exit $rc); _cleanup' EXIT

if "$ST" --build-dir "$BUILD_DIR" nosuchtest >"$T/none.out" 2>&1; then
	fail "a run of no test exited 0: $(cat "$T/none.out")"
fi
eq "$(tail -1 "$T/none.out")" "0 passed, 1 failed, 0 skipped" "summary of a run of no test"
grep -q "FAIL: no test ran" "$T/none.out" || fail "no failure printed: $(cat "$T/none.out")"

# meson itself failing (an option it does not know) counts as a failure.
if "$ST" --build-dir "$BUILD_DIR" --no-such-meson-option >"$T/bad.out" 2>&1; then
	fail "a broken meson run exited 0: $(cat "$T/bad.out")"
fi
eq "$(tail -1 "$T/bad.out")" "0 passed, 1 failed, 0 skipped" "summary of a broken meson run"

# A real selection counts exactly what ran.
"$ST" --build-dir "$BUILD_DIR" fs_unit_node >"$T/one.out" 2>&1 || fail "one unit test: $(cat "$T/one.out")"
eq "$(tail -1 "$T/one.out")" "1 passed, 0 failed, 0 skipped" "summary of one test"
echo ok
