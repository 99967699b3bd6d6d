#!/usr/bin/env bash
# State lives in the service: after an unmount and a new mount the same
# sandboxes, processes, outputs and codes appear, and exec/last too.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/keep"
for i in 1 2 3; do start_proc keep "seq 1 $((i * 1000)); exit $i" >/dev/null; done
main=$(new_box 'echo main-out; exit 4')
eq "$(timeout 10 cat "$MNT/$main/returncode")" 4 "main rc"
for i in 1 2 3; do cat "$MNT/keep/exec/$i/returncode" >/dev/null; done
before=$(ls "$MNT" | sort)

umount_sbxfs
mountpoint -q "$MNT" && fail "still mounted"
mount_sbxfs

eq "$(ls "$MNT" | sort)" "$before" "root listing after remount"
# the processes started by the earlier mount, and the next id after them
procs_after() {
	eq "$(readlink -v "$MNT/keep/exec/last")" 3 "exec/last after remount"
	for i in 1 2 3; do
		eq "$(cat "$MNT/keep/exec/$i/returncode")" "$i" "rc $i after remount"
		eq "$(md5sum <"$MNT/keep/exec/$i/stdout")" "$(seq 1 $((i * 1000)) | md5sum)" "stdout $i after remount"
		eq "$(cat "$MNT/keep/exec/$i/cmd")" "/bin/sh -c 'seq 1 $((i * 1000)); exit $i'" "cmd $i"
	done
	id=$(start_proc keep 'echo four')
	eq "$id" 4 "next id after remount"
}
sbx_needs_extension 'processes of an earlier mount (the real API has no process list: the "processes" extension)' procs_after
eq "$(cat "$MNT/$main/stdout")" main-out "main stdout after remount"
eq "$(cat "$MNT/$main/returncode")" 4 "main rc after remount"
eq "$(cat "$MNT/$main/status")" completed "main status after remount"
echo ok
