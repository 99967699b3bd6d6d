#!/usr/bin/env bash
# The JSON form of exec/new with cwd, env and timeoutSeconds; the JSON form
# of the root clone file; bad JSON fails the writing command with EINVAL.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/j"
id=$(start_proc j '{"command": ["sh", "-c", "pwd; echo $A-$B"], "cwd": "/tmp", "env": {"A": "x", "B": "y z"}}')
eq "$(cat "$MNT/j/exec/$id/stdout")" "$(printf '/tmp\nx-y z')" "cwd and env"
eq "$(cat "$MNT/j/exec/$id/returncode")" 0 "rc"

t0=$(ms)
id=$(start_proc j '{"command": ["sleep", "30"], "timeoutSeconds": 1}')
rc=$(timeout 20 cat "$MNT/j/exec/$id/returncode")
t1=$(ms)
[ "$rc" -gt 128 ] || fail "timeout did not kill: rc $rc"
[ $((t1 - t0)) -lt 10000 ] || fail "timeout took $((t1 - t0)) ms"
eq "$(cat "$MNT/j/exec/$id/status")" killed "status after timeout"

write_fails "$MNT/j/exec/new" '{"command": ]}' "Invalid argument"
grep -q . "$MNT/j/error" || fail "error file empty after bad JSON"
write_fails "$MNT/j/exec/new" '{"command": []}' "Invalid argument"
write_fails "$MNT/j/exec/new" '' "Invalid argument"
grep -q "empty command" "$MNT/j/error" || fail "no message for an empty command"
# an object never completed: nothing to start until close, then the
# refused at close (the builtin printf does not look at close; /bin/printf does)
printf '%s\n' '{"command": ' >"$MNT/j/exec/new" || fail "incomplete JSON failed before close"
grep -q "not complete at close" "$MNT/j/error" || fail "no message for JSON incomplete at close: $(cat "$MNT/j/error")"
if /usr/bin/printf '%s\n' '{"command": ' >"$MNT/j/exec/new" 2>/dev/null; then fail "/usr/bin/printf: incomplete JSON accepted"; fi
write_fails "$MNT/new" '{"spec": ]' "Invalid argument"
grep -q . "$MNT/error" || fail "root error file empty after bad JSON"

box=$(new_box '{"spec": {"command": "/bin/sh", "args": ["-c", "echo $K"], "env": {"K": "from-spec"}}}')
eq "$(timeout 10 cat "$MNT/$box/returncode")" 0 "spec rc"
eq "$(cat "$MNT/$box/stdout")" from-spec "spec env"
echo ok
