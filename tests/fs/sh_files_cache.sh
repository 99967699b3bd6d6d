#!/usr/bin/env bash
# files/ attributes are cached coherently: ls -lR and find of a tree of
# 1,000 entries cost a few requests (READDIRPLUS carries every entry's
# attributes from one listDir), changes made through the mount show at
# once, and a change made inside the sandbox shows within the attribute
# timeout (1 s, docs/filesystem.md). Requests are counted in sbxfs's own
# debug log (-d: one line per FUSE request).
. "$TESTS_DIR/fs/common.sh"
up -d
LOG=$T/sbxfs.log

mkdir "$MNT/c"
F=$MNT/c/files/tmp
id=$(start_proc c 'mkdir -p /tmp/tree && cd /tmp/tree && for d in 0 1 2 3 4 5 6 7 8 9; do mkdir d$d; for f in $(seq 1 99); do echo $f > d$d/f$f; done; done; ln -s d0/f1 link; echo done')
eq "$(cat "$MNT/c/exec/$id/stdout")" done "the tree made inside"
# count OPS...: FUSE requests of those kinds so far
count() {
	local n=0 op
	for op in "$@"; do
		n=$((n + $(grep -c "opcode: $op " "$LOG" || true)))
	done
	echo "$n"
}
before=$(count LOOKUP GETATTR)
lists0=$(count READDIRPLUS READDIR)
ls -lR "$F/tree" >"$T/ls1" || fail "ls -lR"
after=$(count LOOKUP GETATTR)
lines=$(grep -c '^-' "$T/ls1")
eq "$lines" 990 "files listed by ls -lR"
per=$((after - before))
note "ls -lR of 1,000 entries: $per lookups/getattrs, $(( $(count READDIRPLUS READDIR) - lists0 )) listings"
# The 10 directories and the link take a request or two each; the 990
# files none.
[ "$per" -le 60 ] || fail "ls -lR of 1,000 entries took $per lookups/getattrs (want <= 60)"
before=$(count LOOKUP GETATTR)
find "$F/tree" -type f -size -1k -newer "$F/tree/link" -o -type f -print >/dev/null
per=$(( $(count LOOKUP GETATTR) - before ))
note "find of 1,000 entries right after: $per lookups/getattrs"
[ "$per" -le 60 ] || fail "find of 1,000 entries took $per lookups/getattrs"
# What ls -l shows is the sandbox's truth.
eq "$(stat -c '%s %a' "$F/tree/d3/f42")" "3 644" "size and mode of one file from the listing"
eq "$(stat -c %i "$F/tree/d3/f42")" "$(inside_stat=$(start_proc c 'stat -c %i /tmp/tree/d3/f42'); cat "$MNT/c/exec/$inside_stat/stdout")" \
	"st_ino from the listing"

# Changes through the mount: at once, however fresh the cache.
stat "$F/tree/d1/f1" >/dev/null
echo more >>"$F/tree/d1/f1"
eq "$(stat -c %s "$F/tree/d1/f1")" 7 "size right after an append through the mount"
chmod 600 "$F/tree/d1/f1"
eq "$(stat -c %a "$F/tree/d1/f1")" 600 "mode right after chmod"
stat "$F/tree/d1/f2" >/dev/null
ln "$F/tree/d1/f2" "$F/tree/d2/hard"
eq "$(stat -c %h "$F/tree/d1/f2")" 2 "link count of the old name right after ln"
stat "$F/tree/d2/hard" >/dev/null
rm "$F/tree/d1/f2"
eq "$(stat -c %h "$F/tree/d2/hard")" 1 "link count of the other name right after rm"
mv "$F/tree/d1/f3" "$F/tree/d1/moved"
[ ! -e "$F/tree/d1/f3" ] || fail "the old name after mv"
eq "$(cat "$F/tree/d1/moved")" 3 "the new name after mv"

# A change inside shows within the timeout.
eq "$(stat -c %s "$F/tree/d4/f4")" 2 "size before the change inside"
id=$(start_proc c 'echo grown >> /tmp/tree/d4/f4; chmod 700 /tmp/tree/d4/f4; rm /tmp/tree/d4/f5; echo x > /tmp/tree/d4/new')
eq "$(cat "$MNT/c/exec/$id/returncode")" 0 "the change inside"
sleep 1.2
eq "$(stat -c '%s %a' "$F/tree/d4/f4")" "8 700" "size and mode 1.2 s after a change inside"
[ ! -e "$F/tree/d4/f5" ] || fail "a file removed inside still shows after 1.2 s"
eq "$(cat "$F/tree/d4/new")" x "a file made inside"
# shellcheck disable=SC2010 # the listing itself is what is checked
ls "$F/tree/d4" | grep -qx new || fail "a new file inside is not listed"
# An open file sees a change made inside within the same timeout, and a
# file that grew inside shows its new bytes: through the file's own
# descriptor (files.c "Descriptors": page-cached, as NFS) to the next
# open at once and to an open file once its attributes expired; through
# the file calls (-o no_splice), whose small reads are served from a 1 MiB
# read-ahead for at most the same 1 s, at once, since the end of a file is
# always asked again.
coherence() { # MODE (fd or calls)
	local id
	id=$(start_proc c 'head -c 3000000 /dev/zero | tr "\0" a > /tmp/ra; echo done')
	eq "$(cat "$MNT/c/exec/$id/stdout")" done "the read-ahead file made inside"
	python3 - "$F/ra" "$MNT/c/exec/new" "$1" <<'PY' || fail "coherence of an open file ($1)"
import os, sys, time
f = os.open(sys.argv[1], os.O_RDONLY)
assert os.pread(f, 10240, 0) == b"a" * 10240
def inside(cmd):
    c = os.open(sys.argv[2], os.O_RDWR)
    os.write(c, (cmd + "\n").encode())
    pid = os.read(c, 64).decode().strip()
    os.close(c)
    d = os.path.join(os.path.dirname(sys.argv[2]), pid)
    assert open(os.path.join(d, "returncode")).read().strip() == "0"
inside("printf bbbb | dd of=/tmp/ra bs=1 seek=20480 conv=notrunc 2>/dev/null")
time.sleep(1.2)
got = os.pread(f, 10240, 20480)
assert got[:4] == b"bbbb", got[:8]
# the end, then growth inside
assert len(os.pread(f, 10240, 3000000)) == 0
inside("printf cc >> /tmp/ra")
g = os.open(sys.argv[1], os.O_RDONLY)
assert os.pread(g, 10240, 3000000) == b"cc", "a new open"
os.close(g)
if sys.argv[3] == "fd":
    time.sleep(1.2)
assert os.pread(f, 10240, 3000000) == b"cc", "the open file"
PY
}
coherence fd
umount_sbxfs
# shellcheck disable=SC2086
mount_sbxfs -o no_splice ${FS_MOUNT_OPTS:-}
coherence calls
echo ok
