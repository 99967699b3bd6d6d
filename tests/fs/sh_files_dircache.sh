#!/usr/bin/env bash
# files/ directories are listed from the kernel's own cache (FOPEN_CACHE_DIR)
# while the listing is no older than the attribute timeout (1 s) and nothing
# was changed through the mount since: a second walk costs no READDIRPLUS and
# no listing call. Checked: that it does (FUSE requests in sbxfs's -d log,
# listing calls in the recorder's log), that what it shows is the sandbox's
# truth, that a change made through the mount shows at once, that one made
# inside shows to the first listing after the timeout, and that an open on a
# cache the kernel never completed lists anew (ents_later). Its own recorder
# log, appended to an outer conformance run's.
outer_rec=${SBX_RECORD:-}
rec=$(mktemp /tmp/sbx-dircache-rec.XXXXXX)
export SBX_RECORD=$rec
. "$TESTS_DIR/fs/common.sh"
trap '[ -z "$outer_rec" ] || record_append "$rec" "$outer_rec"; rm -f "$rec"; _cleanup' EXIT
up -d
LOG=$T/sbxfs.log
mkdir "$MNT/k"
F=$MNT/k/files/tmp
inside() { box_out k "$1"; }
lists() { grep -cE ':listDirs?[?" ]' "$rec" || true; }
stats() { grep -cE ':statFile[?" ]' "$rec" || true; }
plus() { grep -c "opcode: READDIRPLUS " "$LOG" || true; }

inside 'mkdir -p /tmp/t && cd /tmp/t && for d in $(seq 1 20); do mkdir d$d; for f in $(seq 1 10); do echo $d.$f > d$d/f$f; done; done' >/dev/null
want=$(inside 'cd /tmp/t && find . | sort')
sleep 1.2
p0=$(plus) l0=$(lists)
got=$(cd "$F/t" && find . | sort)
eq "$got" "$want" "the first walk against find inside"
p1=$(plus) l1=$(lists) s1=$(stats)
[ $((p1 - p0)) -ge 21 ] || fail "the first walk read $((p1 - p0)) listings (want one per directory, 21)"
got=$(cd "$F/t" && find . | sort)
eq "$got" "$want" "the second walk, from the kernel's cache"
p2=$(plus) l2=$(lists)
note "find of 21 directories: first $((p1 - p0)) READDIRPLUS, $((l1 - l0)) listing calls; again at once $((p2 - p1)), $((l2 - l1))"
[ $((p2 - p1)) -eq 0 ] || fail "the second walk within 1 s sent $((p2 - p1)) READDIRPLUS (want 0: the kernel's cache)"
[ $((l2 - l1)) -eq 0 ] || fail "the second walk within 1 s made $((l2 - l1)) listing calls (want 0)"
# find stats each directory again (the kernel marked its atime stale when
# it read the listing): answered from the parent's listing, no statFile.
[ $(($(stats) - s1)) -le 1 ] || fail "the second walk within 1 s made $(($(stats) - s1)) statFile calls (want at most 1)"

# A directory's mode: through the mount at once, inside after the timeout.
stat "$F/t/d10" "$F/t/d11" >/dev/null
chmod 700 "$F/t/d10"
eq "$(stat -c %a "$F/t/d10")" 700 "a directory's mode right after chmod through the mount"
inside 'chmod 711 /tmp/t/d11' >/dev/null
sleep 1.2
eq "$(stat -c %a "$F/t/d11")" 711 "a directory's mode 1.2 s after a chmod inside"

# Changes through the mount show at once, however fresh the cache.
ls "$F/t/d2" "$F/t/d3" "$F/t/d4" >/dev/null
touch "$F/t/d2/new"
ls "$F/t/d2" | grep -qx new || fail "a file made through the mount missing from the next listing"
rm "$F/t/d3/f1"
! ls "$F/t/d3" | grep -qx f1 || fail "a file removed through the mount still listed"
ls "$F/t/d4" "$F/t/d5" >/dev/null
mv "$F/t/d4/f2" "$F/t/d5/moved"
! ls "$F/t/d4" | grep -qx f2 || fail "a file moved away through the mount still listed in its old directory"
ls "$F/t/d5" | grep -qx moved || fail "a file moved through the mount missing from its new directory"
ls "$F/t" >/dev/null
mkdir "$F/t/dnew"
ls "$F/t" | grep -qx dnew || fail "a directory made through the mount missing from its parent's listing"
# A change through the mount elsewhere: the next listing is fetched anew.
ls "$F/t/d6" >/dev/null
p3=$(plus)
touch "$F/t/d7/other"
ls "$F/t/d6" >/dev/null
[ $(($(plus) - p3)) -ge 1 ] || fail "a listing after a change through the mount came from the kernel's cache"

# A change inside shows to the first listing after the timeout.
sleep 1.2
ls "$F/t/d8" >/dev/null
inside 'touch /tmp/t/d8/made_inside; rm /tmp/t/d8/f1' >/dev/null
sleep 1.2
p4=$(plus)
l=$(ls "$F/t/d8")
printf '%s\n' "$l" | grep -qx made_inside || fail "a file made inside missing from a listing 1.2 s later"
! printf '%s\n' "$l" | grep -qx f1 || fail "a file removed inside still listed 1.2 s later"
[ $(($(plus) - p4)) -ge 1 ] || fail "a listing after the timeout came from the kernel's cache"

# A reader that stops before the end leaves the kernel's cache incomplete:
# the next open keeps it but the kernel asks again, and the listing is
# fetched then (ents_later).
sleep 1.2
perl -e 'opendir(my $d, $ARGV[0]) or die; my $e = readdir($d); closedir($d)' "$F/t/d9"
got=$(ls "$F/t/d9" | sort)
eq "$got" "$(inside 'ls /tmp/t/d9 | sort')" "a listing after an unfinished one"
echo ok
