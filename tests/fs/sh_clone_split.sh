#!/usr/bin/env bash
# Clone files buffer per open file: a text command starts when its writer
# closes it, a JSON object when its braces balance; `dd bs=1` starts one
# process, a line written in two pieces one sandbox; text without a final
# newline starts at close too; over 128 KiB pending: E2BIG.
# Also: a JSON string with \u0000 is refused, not cut short.
. "$TESTS_DIR/fs/common.sh"
up

nproc_dirs() { ls "$MNT/$1/exec" | grep -c '^[0-9]' || true; }
nboxes() { ls "$MNT" | grep -c '^sbx-' || true; }

mkdir "$MNT/c"
printf 'echo split\n' | dd of="$MNT/c/exec/new" bs=1 status=none || fail "dd bs=1 to exec/new"
sleep 0.3
eq "$(nproc_dirs c)" 1 "processes after dd bs=1"
last=$(readlink "$MNT/c/exec/last")
eq "$(timeout 10 cat "$MNT/c/exec/$last/stdout")" split "output of the dd-written command"

# a JSON object in pieces
{ printf '%s' '{"command": ["echo",'; sleep 0.1; printf '%s\n' ' "json-split"]}'; } >"$MNT/c/exec/new" ||
	fail "split JSON"
eq "$(nproc_dirs c)" 2 "processes after split JSON"
last=$(readlink "$MNT/c/exec/last")
eq "$(timeout 10 cat "$MNT/c/exec/$last/stdout")" json-split "output of split JSON"

# root new: one sandbox for a line written in two pieces
before=$(nboxes)
{ printf 'echo hi'; echo; } >"$MNT/new" || fail "two-piece line to new"
sleep 0.3
eq "$(nboxes)" $((before + 1)) "sandboxes after a two-piece line"
# and an empty line alone is an idle sandbox
box=$(new_box)
id=$(start_proc "$box" 'echo idle-ok')
eq "$(timeout 10 cat "$MNT/$box/exec/$id/stdout")" idle-ok "idle sandbox from an empty line"

# no final newline: started at close
printf 'echo at-close' >"$MNT/c/exec/new" || fail "text without newline"
for _ in $(seq 50); do [ "$(nproc_dirs c)" = 3 ] && break; sleep 0.1; done
eq "$(nproc_dirs c)" 3 "process started at close"
last=$(readlink "$MNT/c/exec/last")
eq "$(timeout 10 cat "$MNT/c/exec/$last/stdout")" at-close "output of the command started at close"
# its error, at close, goes to the error file (and to close(2))
printf '{"command": [], ' >"$MNT/c/exec/new" || fail "incomplete JSON without newline"
grep -q "not complete at close" "$MNT/c/error" || fail "no message at close: $(cat "$MNT/c/error")"

# one write with a newline still starts in the write and reports errors
write_fails "$MNT/c/exec/new" '{"command": ["echo", "a\u0000b"]}' "Invalid argument"
grep -q 'u0000' "$MNT/c/error" || fail "no message for \\u0000: $(cat "$MNT/c/error")"
write_fails "$MNT/new" '{"name": "x\u0000y"}' "Invalid argument"

# the pending cap
out=$(head -c 140000 /dev/zero | tr '\0' 'a' | dd of="$MNT/c/exec/new" bs=4096 status=none 2>&1) &&
	fail "140000 bytes without a newline were accepted"
printf '%s\n' "$out" | grep -q "Argument list too long" || fail "cap: $out"
grep -q "131072" "$MNT/c/error" || fail "no message for the cap: $(cat "$MNT/c/error")"
echo ok
