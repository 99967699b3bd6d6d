#!/usr/bin/env bash
# Process.result(): stdout, stderr and returncode of one process; a
# non-zero exit shows its code and its stderr (what check=True raises).
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/r"
id=$(start_proc r 'printf "a\nb\n"; printf "e1\n" >&2; exit 0')
eq "$(cat "$MNT/r/exec/$id/returncode")" 0 "rc"
eq "$(cat "$MNT/r/exec/$id/stdout")" "$(printf 'a\nb')" "stdout"
eq "$(cat "$MNT/r/exec/$id/stderr")" e1 "stderr"
eq "$(stat -c %s "$MNT/r/exec/$id/stdout")" 4 "stdout size"
eq "$(stat -c %s "$MNT/r/exec/$id/stderr")" 3 "stderr size"

id=$(start_proc r 'echo "boom: no such thing" >&2; exit 3')
rc=$(cat "$MNT/r/exec/$id/returncode")
eq "$rc" 3 "non-zero rc"
eq "$(cat "$MNT/r/exec/$id/stderr")" "boom: no such thing" "stderr of the failure"
eq "$(cat "$MNT/r/exec/$id/status")" exited "status"

# a command that cannot start
id=$(start_proc r '{"command": ["/no/such/binary"]}')
rc=$(cat "$MNT/r/exec/$id/returncode")
[ "$rc" = 127 ] || [ "$rc" = 126 ] || fail "rc of a missing binary: $rc"

# binary output comes through byte for byte
id=$(start_proc r 'head -c 300000 /dev/urandom > /tmp/r.bin; cat /tmp/r.bin; sha256sum /tmp/r.bin | cut -d" " -f1 >&2')
want=$(cat "$MNT/r/exec/$id/stderr")
eq "$(sha256sum <"$MNT/r/exec/$id/stdout" | cut -d' ' -f1)" "$want" "binary stdout checksum"
echo ok
