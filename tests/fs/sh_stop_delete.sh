#!/usr/bin/env bash
# Stop versus delete: a stopped sandbox stays visible with its output in a
# new mount too; rmdir and `ctl delete` purge, and the name goes from this
# mount at once. returncode of a FAILED sandbox is EIO with the reason in
# `error`; of a stopped one 128+N. Error files are never stale and a
# repeated identical error still moves their mtime.
. "$TESTS_DIR/fs/common.sh"
up

# FAILED: the main command cannot start
fb=$(new_box '{"command": ["/no/such/binary"]}')
for _ in $(seq 50); do [ "$(cat "$MNT/$fb/status")" = failed ] && break; sleep 0.1; done
eq "$(cat "$MNT/$fb/status")" failed "status of a sandbox whose command cannot start"
read_fails "$MNT/$fb/returncode" "Input/output error"
grep -q "returncode: sandbox failed" "$MNT/$fb/error" || fail "no reason in error: $(cat "$MNT/$fb/error")"

# stop: output stays, in this mount and a new one; exit code 128+N
sb=$(new_box 'echo kept-output; exec sleep 600')
eq "$(timeout 10 head -n1 "$MNT/$sb/stdout")" kept-output "live output"
echo "stop 1" >"$MNT/$sb/ctl"
# (returncode waits until the sandbox is terminal)
rc=$(timeout 10 cat "$MNT/$sb/returncode")
case "$rc" in 143 | 137) ;; *) fail "returncode after stop: '$rc', want 143 or 137" ;; esac
eq "$(cat "$MNT/$sb/status")" terminated "status after stop"
eq "$(cat "$MNT/$sb/stdout")" kept-output "output after stop"

# delete: gone at once here (no entry timeout), purged for new mounts
mkdir "$MNT/del1" "$MNT/del2"
stat "$MNT/del1" >/dev/null || fail "stat before delete"
echo delete >"$MNT/del1/ctl"
[ ! -e "$MNT/del1" ] || fail "del1 still there right after ctl delete"
rmdir "$MNT/del2"
[ ! -e "$MNT/del2" ] || fail "del2 still there after rmdir"

# a new mount of the same service
umount_sbxfs
mount_sbxfs ${FS_MOUNT_OPTS:-}
ls "$MNT" | grep -qx "$sb" || fail "stopped sandbox not listed in a new mount: $(ls "$MNT")"
eq "$(cat "$MNT/$sb/stdout")" kept-output "stopped sandbox's output in a new mount"
if sbx_extension_on; then
	ls "$MNT" | grep -qx del1 && fail "ctl-deleted sandbox listed in a new mount"
	ls "$MNT" | grep -qx del2 && fail "rmdir'ed sandbox listed in a new mount"
	[ ! -e "$MNT/del1" ] || fail "ctl-deleted sandbox found by name in a new mount"
else
	# Without "forget" a delete is the real DeleteSandbox: the service
	# keeps listing the sandbox, TERMINATED, until its retention drops
	# it, and a new mount shows what the service says (not a purge).
	for d in del1 del2; do
		ls "$MNT" | grep -qx $d || fail "deleted $d not listed by a new mount without the extension: $(ls "$MNT")"
		eq "$(cat "$MNT/$d/status")" terminated "status of the deleted $d in a new mount without the extension"
	done
	note "without the extension a deleted sandbox shows in a new mount as terminated (DeleteSandbox keeps it listed; purging is the \"forget\" extension)"
fi

# error files: fresh at every read, mtime moves on a repeated message
mkdir "$MNT/er"
write_fails "$MNT/er/ctl" "frobnicate" "Invalid argument"
t1=$(stat -c %.9Y "$MNT/er/error")
sleep 0.05
write_fails "$MNT/er/ctl" "frobnicate" "Invalid argument"
t2=$(stat -c %.9Y "$MNT/er/error")
[ "$t1" != "$t2" ] || fail "mtime of error did not move on a repeated message ($t1)"
id=$(start_proc er 'true')
eq "$(timeout 10 cat "$MNT/er/exec/$id/returncode")" 0 "rc"
write_fails "$MNT/er/exec/$id/ctl" "kill" "No such process"
grep -q "kill" "$MNT/er/error" || fail "kill message"
write_fails "$MNT/er/exec/$id/ctl" "frobnicate" "Invalid argument"
grep -q "unknown command" "$MNT/er/error" || fail "stale error: $(cat "$MNT/er/error")"
echo ok
