#!/usr/bin/env bash
# Output streams while the process runs: cat follows the whole run and ends
# with it; tail -f follows; a late reader and two readers at once each get
# every byte; size and mtime grow.
. "$TESTS_DIR/fs/common.sh"
up

mkdir "$MNT/s"
id=$(start_proc s 'for i in 1 2 3 4 5 6; do echo line$i; sleep 0.3; done')
f="$MNT/s/exec/$id/stdout"
# the first line arrives long before the end
t0=$(ms)
first=$(head -n 1 "$f")
t1=$(ms)
eq "$first" line1 "first line"
[ $((t1 - t0)) -lt 1200 ] || fail "first line took $((t1 - t0)) ms"

# two readers at once from byte 0, one more after the end
cat "$f" >"$T/r1" &
p1=$!
cat "$f" >"$T/r2" &
p2=$!
timeout 10 tail -n +1 -f "$f" >"$T/tail" &
p3=$!
s1=$(stat -c %s "$f")
sleep 0.7
s2=$(stat -c %s "$f")
[ "$s2" -gt "$s1" ] || fail "size did not grow ($s1 -> $s2)"
wait $p1 || fail "reader 1"
wait $p2 || fail "reader 2"
want=$(printf 'line%s\n' 1 2 3 4 5 6)
eq "$(cat "$T/r1")" "$want" "reader 1"
eq "$(cat "$T/r2")" "$want" "reader 2"
eq "$(cat "$f")" "$want" "late reader"
# tail -f has seen every line too
for i in $(seq 1 50); do [ "$(wc -l <"$T/tail")" -ge 6 ] && break; sleep 0.1; done
kill $p3 2>/dev/null || true
wait $p3 2>/dev/null || true
eq "$(cat "$T/tail")" "$want" "tail -f"
eq "$(cat "$MNT/s/exec/$id/returncode")" 0 "rc"
eq "$(stat -c %s "$f")" 36 "final size"

# the main command's output streams the same way
box=$(new_box 'echo m1; sleep 0.5; echo m2')
eq "$(timeout 10 cat "$MNT/$box/stdout")" "$(printf 'm1\nm2')" "main stdout"

# a large output read with big reads and small ones matches
id=$(start_proc s 'seq 1 300000')
eq "$(cat "$MNT/s/exec/$id/stdout" | md5sum)" "$(seq 1 300000 | md5sum)" "large output"
eq "$(dd if="$MNT/s/exec/$id/stdout" bs=4099 2>/dev/null | md5sum)" "$(seq 1 300000 | md5sum)" "odd-sized reads"
eq "$(tail -c 7 "$MNT/s/exec/$id/stdout")" "300000" "tail -c (seek)"
echo ok
