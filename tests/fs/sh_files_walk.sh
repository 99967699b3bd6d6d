#!/usr/bin/env bash
# A walk of files/ (find, ls -R) costs a call per 8,192 entries, not one
# per directory: a directory opened within 1 s of its parent's listing
# comes with its siblings' listings (sbxd's :listDirs). Checked: what the
# walk shows is what the sandbox has (names, sizes), the calls counted in
# the recorder's log, a change made through the mount is never hidden by
# a listing fetched ahead, and one made inside shows once that second is
# over. Its own recorder log, appended to an outer conformance run's.
outer_rec=${SBX_RECORD:-}
rec=$(mktemp /tmp/sbx-walk-rec.XXXXXX)
export SBX_RECORD=$rec
. "$TESTS_DIR/fs/common.sh"
trap '[ -z "$outer_rec" ] || record_append "$rec" "$outer_rec"; rm -f "$rec"; _cleanup' EXIT
up
mkdir "$MNT/w"
F=$MNT/w/files/tmp
inside() { box_out w "$1"; }
lists() { grep -cE ':listDirs?[?" ]' "$rec" || true; }

inside 'mkdir -p /tmp/t && cd /tmp/t && for d in $(seq 1 40); do mkdir d$d; for f in $(seq 1 20); do echo $d.$f > d$d/f$f; done; done' >/dev/null
sleep 1.2
l0=$(lists)
got=$(cd "$F/t" && find . -printf '%p %s\n' | sort)
n=$(( $(lists) - l0 ))
want=$(inside 'cd /tmp/t && find . -printf "%p %s\n" | sort')
eq "$got" "$want" "find through the mount against find inside"
note "find of 41 directories, 840 entries: $n listing calls"
[ "$n" -le 4 ] || fail "find of 41 directories took $n listing calls (want <= 4, not 41)"
grep -q ':listDirs' "$rec" || fail "no listDirs call in the walk"

# A change through the mount is seen at once, whatever was fetched ahead.
sleep 1.2
ls "$F/t" >/dev/null
ls "$F/t/d1" >/dev/null          # fetches d2..d40 ahead
touch "$F/t/d2/new"
ls "$F/t/d2" | grep -qx new || fail "a file made through the mount missing from a listing fetched ahead"
rm "$F/t/d3/f1"
ls "$F/t/d3" | grep -qx f1 && fail "a file removed through the mount still listed"
# A change inside shows once the second is over.
sleep 1.2
ls "$F/t" >/dev/null
ls "$F/t/d1" >/dev/null
inside 'touch /tmp/t/d5/inner' >/dev/null
sleep 1.1
ls "$F/t/d5" | grep -qx inner || fail "a file made inside not listed after 1 s"
echo ok
