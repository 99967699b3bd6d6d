#!/usr/bin/env bash
# Full disks through the mount (issue 15). Writes into files/ when the
# sandbox's disk fills (sbxd --max-disk) fail with ENOSPC in the writer's
# own write(2), fsync(2) or close(2) (small writes are sent behind, so the
# error may come at the next call or at close, as on NFS), every byte a
# successful fsync/close acknowledged is there, as is every file written
# before; once space is freed writes work again. Output
# past sbxd's --output-quota (and output the state dir's full disk cannot
# take) is dropped, never half-kept: the stream reads as an exact prefix
# of what the process wrote, the process's `reason` names the quota (or
# ENOSPC), its exit code is its own, and a new process in another sandbox
# writes in full.
. "$TESTS_DIR/fs/common.sh"
SMALL=$T/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=64m,mode=0700 sbxtest-enospc "$SMALL" || skip "cannot mount a tmpfs"
trap 'rc=$?; umount_sbxfs; stop_sbxd; umount "$SMALL" 2>/dev/null || umount -l "$SMALL"; set +e; (exit $rc); _cleanup' EXIT
STATE=$SMALL/state
start_sbxd --max-disk 8Mi --output-quota 1Mi --min-free 0
# shellcheck disable=SC2086
mount_sbxfs ${FS_MOUNT_OPTS:-}

# --- files/: the sandbox's 8 MiB disk
mkdir "$MNT/full"
F=$MNT/full/files/tmp
head -c 1048576 /dev/urandom >"$T/before"
cp "$T/before" "$F/before" || fail "a 1 MiB copy into an 8 MiB disk"
# Small writes are held and sent behind (docs/filesystem.md): a sending
# error comes from a later write(2), fsync(2) or close(2), as on NFS. So the
# contract checked is: the writer learns ENOSPC (at write, fsync or close),
# every byte a successful fsync(2) acknowledged is in the file, and what
# the file holds is the writer's bytes at their offsets, nothing else.
# writer FILE SYNC: 1 MiB writes of a pattern until one fails, fsync after
# each when SYNC is 1 (an acknowledgement per MiB) or never (as cp: only
# close); prints the bytes write(2) took, the bytes the last successful
# fsync/close covered, and the errno and call that failed.
writer() {
	python3 - "$1" "$2" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
sync = sys.argv[2] == "1"
chunk = bytes(range(256)) * 4096          # 1 MiB, a pattern
done, synced, err, where = 0, 0, 0, "-"
while done < (64 << 20):
    try:
        n = os.write(fd, chunk)
    except OSError as e:
        err, where = e.errno, "write"
        break
    done += n
    if sync:
        try:
            os.fsync(fd)
        except OSError as e:
            err, where = e.errno, "fsync"
            break
        synced = done
try:
    os.close(fd)
    if not err:
        synced = done
except OSError as e:
    if not err:
        err, where = e.errno, "close"
print(done, synced, errno.errorcode.get(err, err), where)
PY
}
# check_big ACKED SYNCED WHY: the writer learnt ENOSPC, the synced bytes
# are all there, and the file holds only the pattern.
check_big() {
	case $3 in ENOSPC | EDQUOT) ;; *) fail "a writer into a full disk learnt '$3', want ENOSPC or EDQUOT" ;; esac
	[ "$1" -gt 0 ] || fail "nothing could be written before the disk filled"
	[ "$2" -lt $((8 << 20)) ] || fail "$2 bytes acknowledged by fsync/close on an 8 MiB disk"
	# at most one held buffer (WB_MAX, 4 MiB) plus the failing write past
	# what the disk can take: the writer is never left believing much more
	[ "$1" -le $(((8 + 4 + 1) << 20)) ] || fail "$1 bytes taken by write(2) on an 8 MiB disk"
	local size
	size=$(stat -c %s "$F/big")
	[ "$size" -ge "$2" ] || fail "the file holds $size bytes, fsync/close acknowledged $2"
	python3 - "$F/big" "$2" <<'PY' || fail "the file's bytes are not the writer's"
import sys
chunk = bytes(range(256)) * 4096
with open(sys.argv[1], "rb") as f:
    data = f.read()
want = (chunk * (len(data) // len(chunk) + 1))[:len(data)]
if len(data) < int(sys.argv[2]):
    sys.exit(f"{len(data)} bytes read, {sys.argv[2]} acknowledged")
# every byte held is the writer's at its offset (past the acknowledged end
# a failed send may have left some of its bytes, never others)
sys.exit(0 if data == want else 1)
PY
}
out=$(writer "$F/big" 1) || fail "the syncing writer crashed: $out"
read -r acked synced why where <<<"$out"
note "files/, fsync per MiB: write took $acked, fsync acknowledged $synced, then $why at $where"
check_big "$acked" "$synced" "$why"
rm -f "$F/big"
out=$(writer "$F/big" 0) || fail "the writer crashed: $out"
read -r acked synced why where <<<"$out"
note "files/, no fsync: write took $acked, then $why at $where"
check_big "$acked" "$synced" "$why"
cmp -s "$T/before" "$F/before" || fail "a file written before the disk filled changed"
# the shell's own redirections and cp see it too
if err=$( (echo more >>"$F/before") 2>&1); then
	# an append of 5 bytes may still fit in a partly used page
	note "a 5-byte append fitted"
else
	printf '%s\n' "$err" | grep -q "No space left on device\|Disk quota exceeded" || fail "append on a full disk: '$err'"
fi
err=$(cp "$T/before" "$F/copy" 2>&1) && fail "cp of 1 MiB into a full disk succeeded"
printf '%s\n' "$err" | grep -q "No space left on device\|Disk quota exceeded" || fail "cp on a full disk: '$err'"
# space back: the same writes work
rm -f "$F/big" "$F/copy"
cp "$T/before" "$F/again" || fail "a copy after space was freed"
cmp -s "$T/before" "$F/again" || fail "the copy after space was freed differs"
cmp -s "$T/before" "$F/before" || fail "the first file after space was freed"

# --- output capture: the sandbox's 1 MiB output quota
p=$(start_proc full 'seq 1 400000; echo tail-line')   # about 2.7 MB
eq "$(timeout 30 cat "$MNT/full/exec/$p/returncode")" 0 "exit code of a process whose output passed the quota"
cat "$MNT/full/exec/$p/stdout" >"$T/got"
got=$(stat -c %s "$T/got")
note "output: $got bytes kept of about 2.7 MB; reason: $(cat "$MNT/full/exec/$p/reason")"
[ "$got" -gt 0 ] && [ "$got" -le $((1 << 20)) ] || fail "stdout kept $got bytes under a 1 MiB quota"
{ seq 1 400000; echo tail-line; } >"$T/want"
cmp -s -n "$got" "$T/want" "$T/got" || fail "the kept output is not a prefix of what was written"
grep -q "quota" "$MNT/full/exec/$p/reason" || fail "reason does not name the quota: $(cat "$MNT/full/exec/$p/reason")"
eq "$(stat -c %s "$MNT/full/exec/$p/stdout")" "$got" "stdout's size against its bytes"
# another sandbox has its own quota
mkdir "$MNT/other"
p2=$(start_proc other 'seq 1 1000')
eq "$(timeout 30 cat "$MNT/other/exec/$p2/stdout" | md5sum)" "$(seq 1 1000 | md5sum)" "a new sandbox's output in full"

# --- the state dir's own disk fills (the host side): output is lost, said so
fill=$SMALL/filler
dd if=/dev/zero of="$fill" bs=64k 2>/dev/null || true
# leave a little for the records every call saves
truncate -s -256K "$fill"
mkdir "$MNT/host" || fail "mkdir with 256 KiB left in the state dir"
p3=$(start_proc host 'head -c 4000000 /dev/zero | tr "\0" x; echo')
rc3=$(timeout 30 cat "$MNT/host/exec/$p3/returncode") || fail "returncode on a full state dir"
eq "$rc3" 0 "exit code of a process whose output the state dir could not take"
cat "$MNT/host/exec/$p3/stdout" >"$T/got3" || true
got3=$(stat -c %s "$T/got3")
note "full state dir: $got3 bytes kept of 4000001; reason: $(cat "$MNT/host/exec/$p3/reason")"
[ "$got3" -lt 4000001 ] || fail "all output kept on a full disk?"
tr -d x <"$T/got3" | grep -q . && fail "output kept on a full disk is not a prefix of what was written"
grep -qi "no space\|ENOSPC\|write error" "$MNT/host/exec/$p3/reason" || fail "reason on a full disk: $(cat "$MNT/host/exec/$p3/reason")"
rm -f "$fill"
p4=$(start_proc host 'seq 1 1000')
eq "$(timeout 30 cat "$MNT/host/exec/$p4/stdout" | md5sum)" "$(seq 1 1000 | md5sum)" "output in full once space is back"
