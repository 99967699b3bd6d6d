#!/usr/bin/env bash
# libsbx against a real sbxd: starts a fresh sbxd (tests/lib.sh) and runs
# the C test program given as $1 against its socket.
. "$TESTS_DIR/lib.sh"
[ -n "$SBXD" ] && [ -x "$SBXD" ] || fail "sbxd is not built"
# 1,000 long-polls need as many descriptors on both ends.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
start_sbxd
SBX_TEST_SOCK=$SOCK "$1"
