#!/usr/bin/env bash
# mkdir NAME makes an idle sandbox; several execs in sequence, each with
# its own id, output and code; the clone file's read-back and exec/last;
# cmd and status of a process; rmdir.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/box"
[ -d "$MNT/box" ] || fail "mkdir box made no directory"
eq "$(cat "$MNT/box/status")" running "status"
grep -q '"name": *"box"' "$MNT/box/info" || grep -q 'sbxfs-name=box' "$MNT/box/info" || fail "name not kept on the service"
if mkdir "$MNT/box" 2>/dev/null; then fail "second mkdir box succeeded"; fi

for i in 1 2 3; do
	id=$(start_proc box "echo run$i; exit $i")
	eq "$id" "$i" "process id"
	eq "$(readlink "$MNT/box/exec/last")" "$i" "exec/last"
	eq "$(cat "$MNT/box/exec/last/returncode")" "$i" "returncode of $i"
	eq "$(cat "$MNT/box/exec/$i/stdout")" "run$i" "stdout of $i"
	eq "$(cat "$MNT/box/exec/$i/status")" exited "status of $i"
	eq "$(cat "$MNT/box/exec/$i/cmd")" "/bin/sh -c 'echo run$i; exit $i'" "cmd of $i"
done
eq "$(ls "$MNT/box/exec" | sort | tr '\n' ' ')" "1 2 3 last new " "exec listing"

# the one-liner form
echo 'echo oneliner' >"$MNT/box/exec/new"
eq "$(cat "$MNT/box/exec/last/stdout")" oneliner "exec/last stdout"
# (no stdin: a text command has none without -o stdin)
eq "$(ls "$MNT/box/exec/4")" "$(printf 'cmd\nctl\nreason\nreturncode\nstatus\nstderr\nstdout')" "process dir listing"

rmdir "$MNT/box"
[ ! -e "$MNT/box" ] || fail "box still there after rmdir"
ls "$MNT" | grep -qx box && fail "ls still shows box"
# the name is free again
mkdir "$MNT/box"
eq "$(cat "$MNT/box/status")" running "new box status"
echo ok
