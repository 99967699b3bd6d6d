#!/usr/bin/env bash
# Attack under races: inside the sandbox a loop keeps swapping /race/a
# between a directory tree holding climbing links, a symlink to "/", a
# symlink to a ".." chain and an `s -> .` chain, and moves the tree one
# level down and back (so the same names sit at another depth), while the
# host reads, lists, resolves and writes through links into it for some
# seconds. A link swapped between readlink and the next lookup, or a
# directory moved under the kernel's cached dentries, must never lead the
# host kernel out of files/. Checked on the HOST: no output holds the
# marker's content, the victim's sha256 holds, no file appears next to it,
# every readlink -f stays inside files/.
. "$TESTS_DIR/fs/common.sh"
up

SECS=${RACE_SECONDS:-8}
H=$T/host
mkdir -p "$H"
secret="HOSTSECRET-$$-$RANDOM$RANDOM"
echo "$secret" >"$H/secret"
echo "host victim, never to change" >"$H/victim"
vsum=$(sha256sum <"$H/victim")
hlist=$(ls -A "$H")

mkdir "$MNT/box"
F="$MNT/box/files"
wait_for 10 test -d "$F/etc"

U=$(printf '../%.0s' $(seq 20))
S=$(printf 's/%.0s' $(seq 20))
Hr=${H#/}
cat >"$F/race.sh" <<EOF
mkdir -p $H /race/z
echo SANDBOX-COPY >$H/secret
echo sandbox-victim >$H/victim
cd /race
ln -s . s
ln -s a/b/leak l1
ln -s a/b/plant p1
ln -s a/b/c l2
ln -s 'a/$S$U$Hr/secret' l3
tree() {
	mkdir -p "\$1/b/c"
	ln -s '$U$Hr/secret' "\$1/b/leak"
	ln -s '$U$Hr/victim' "\$1/b/plant"
	ln -s . "\$1/b/c/s"
	ln -s '$S$U$Hr' "\$1/b/c/d"
	ln -s '$H' "\$1/b/c/e"
}
end=\$((\$(date +%s) + $SECS))
i=0
while [ \$(date +%s) -lt \$end ]; do
	rm -rf a z/a; tree a
	rm -rf a; ln -s / a
	rm a; ln -s '$U' a
	rm a; ln -s '$S$U' a
	rm a; tree z/a; mv z/a a
	mv a z/a; ln -s z/a a
	rm a; mv z/a a
	i=\$((i+1))
done
echo "\$i"
EOF
pid=$(start_proc box 'sh /race.sh')

leaks=0
reads=0
rounds=0
end=$((SECONDS + SECS - 1))
: >"$T/out"
while [ $SECONDS -lt $end ]; do
	for p in race/l1 race/l3 race/a/b/leak race/z/a/b/leak "race/a$H/secret" race/l2/d/secret race/l2/e/secret \
		race/a/b/c/d/secret race/a/b/c/e/secret "race/z/a/b/c/d/secret"; do
		cat "$F/$p" >>"$T/out" 2>/dev/null || true
	done
	find -L "$F/race/a/b" -maxdepth 3 -type f -exec cat {} + >>"$T/out" 2>/dev/null || true
	for p in race/p1 race/a/b/plant "race/a$H/victim" "race/a$H/new" race/l2/d/victim race/l2/d/new2; do
		echo data >"$F/$p" 2>/dev/null || true
	done
	for p in race/l1 race/l2 race/l3 race/a race/a/b/leak race/a/b/c/d race/a/b/c/e; do
		r=$(readlink -f "$F/$p" 2>/dev/null || true)
		case "$r" in
		"" | "$F" | "$F"/*) ;;
		*) echo "LEAK: readlink -f $p = $r" >&2; leaks=$((leaks + 1)) ;;
		esac
	done
	rounds=$((rounds + 1))
done
swaps=$(timeout 30 cat "$MNT/box/exec/$pid/stdout")
eq "$(cat "$MNT/box/exec/$pid/returncode")" 0 "the swapping loop: $(cat "$MNT/box/exec/$pid/stderr")"

if grep -a -q "$secret" "$T/out"; then
	echo "LEAK: $(grep -a -c "$secret" "$T/out") reads of the host marker" >&2
	leaks=$((leaks + 1))
fi
[ "$(sha256sum <"$H/victim")" = "$vsum" ] || { echo "LEAK: host victim changed" >&2; leaks=$((leaks + 1)); }
[ "$(ls -A "$H")" = "$hlist" ] || { echo "LEAK: new host files: $(ls -A "$H" | tr '\n' ' ')" >&2; leaks=$((leaks + 1)); }
reads=$(grep -a -c SANDBOX-COPY "$T/out" || true)
note "$swaps swap rounds in the sandbox, $rounds host rounds, $reads reads of the sandbox's own copy"
[ "$leaks" -eq 0 ] || fail "$leaks host reads/writes through the mount during the race"
[ "$swaps" -gt 10 ] || fail "the sandbox swapped only $swaps times"
[ "$reads" -gt 0 ] || fail "no host read ever got through the links (the race tested nothing)"
echo ok
