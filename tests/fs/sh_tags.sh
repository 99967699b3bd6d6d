#!/usr/bin/env bash
# Tags: each sandbox's `tags` file, one a line, and by-tag/TAG/ listing the
# sandboxes with that tag (the service's list filter) as links to them.
. "$TESTS_DIR/fs/common.sh"
up

printf '%s\n' '{"name": "t1", "tags": ["team-a"]}' >"$MNT/new"
printf '%s\n' '{"name": "t2", "tags": ["team-a", "gpu"]}' >"$MNT/new"
mkdir "$MNT/t3"
grep -qx team-a "$MNT/t1/tags" || fail "t1/tags: $(cat "$MNT/t1/tags")"
eq "$(grep -c . "$MNT/t2/tags")" 3 "t2's tags (team-a, gpu and its name tag)"
eq "$(stat -c %s "$MNT/t2/tags")" "$(wc -c <"$MNT/t2/tags")" "size of the tags file"
eq "$(ls "$MNT/by-tag/team-a" | tr '\n' ' ')" "t1 t2 " "by-tag/team-a"
eq "$(ls "$MNT/by-tag/gpu")" t2 "by-tag/gpu"
eq "$(readlink "$MNT/by-tag/team-a/t1")" ../../t1 "the link of by-tag/team-a/t1"
eq "$(cat "$MNT/by-tag/team-a/t1/status")" running "status through the tag link"
ls "$MNT/by-tag" | grep -qx gpu || fail "by-tag lists no gpu: $(ls "$MNT/by-tag")"
ls "$MNT/by-tag" | grep -qx team-a || fail "by-tag lists no team-a"
[ ! -e "$MNT/by-tag/no-such-tag" ] || fail "by-tag/no-such-tag exists"
[ ! -e "$MNT/by-tag/gpu/t1" ] || fail "t1 shows under gpu"
# a deleted sandbox leaves the tag's listing
rmdir "$MNT/t2"
eq "$(ls "$MNT/by-tag/team-a")" t1 "by-tag/team-a after rmdir t2"
echo ok
