#!/usr/bin/env bash
# No cap on a sandbox's starts (issue 14): sbxd keeps the records of the
# newest --keep-processes processes (default 4096) and forgets the oldest
# ended ones, however many were started. Through the mount the newest are
# still there, exec/last names the newest, the forgotten ones are gone
# (ENOENT, not an error) and a start through the mount goes on counting.
# First with --keep-processes 16 and 40 starts, then at the default with
# 4,200 starts (through libsbx: bench_fs history, quicker than the mount).
. "$TESTS_DIR/fs/common.sh"
bench=$BUILD_DIR/tests/fs/bench_fs
[ -x "$bench" ] || skip "no $bench"
sbx_extension_on || skip "process ids are the extension's"

# check BOX STARTED KEPT: what the mount shows of BOX after STARTED
# processes, the newest KEPT of them remembered
check() {
	local box=$1 n=$2 keep=$3 first=$(($2 - $3 + 1))
	sleep 1.2 # past the entry timeout and the 1 s freshness of exec/last
	eq "$(readlink "$MNT/$box/exec/last")" "$n" "$box: exec/last after $n starts"
	eq "$(cat "$MNT/$box/exec/$n/returncode")" 0 "$box: the newest's returncode"
	eq "$(cat "$MNT/$box/exec/$first/returncode")" 0 "$box: the oldest kept's returncode"
	[ ! -e "$MNT/$box/exec/$((first - 1))" ] || fail "$box: exec/$((first - 1)) outlived the keep of $keep"
	[ ! -e "$MNT/$box/exec/1" ] || fail "$box: exec/1 outlived the keep of $keep"
	local listed
	listed=$(ls "$MNT/$box/exec" | grep -c '^[0-9]*$')
	eq "$listed" "$keep" "$box: processes listed in exec/"
	# one more through the mount: the next id, and exec/last moves to it
	local id
	id=$(start_proc "$box" 'echo more')
	eq "$id" $((n + 1)) "$box: the id of a start through the mount"
	eq "$(cat "$MNT/$box/exec/$id/stdout")" more "$box: its output"
	eq "$(readlink "$MNT/$box/exec/last")" "$id" "$box: exec/last after it"
}

start_sbxd --keep-processes 16
mount_sbxfs
mkdir "$MNT/small"
sid=$(sed -n 's/.*"sandboxId": *"\([^"]*\)".*/\1/p' "$MNT/small/info" | head -1)
"$bench" history "unix:$SOCK" "$sid" 40 >/dev/null || fail "40 starts through libsbx"
check small 40 16
umount_sbxfs
stop_sbxd

start_sbxd
mount_sbxfs
mkdir "$MNT/big"
bid=$(sed -n 's/.*"sandboxId": *"\([^"]*\)".*/\1/p' "$MNT/big/info" | head -1)
t0=$(date +%s%3N)
"$bench" history "unix:$SOCK" "$bid" 4200 >/dev/null || fail "4,200 starts through libsbx"
note "4,200 starts in $(($(date +%s%3N) - t0)) ms"
check big 4200 4096
echo ok
