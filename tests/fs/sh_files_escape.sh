#!/usr/bin/env bash
# Attack: a sandbox plants symlinks in its own filesystem that would, if the
# host kernel followed them as written, lead out of files/ to the host
# (absolute targets, ".." past the root, `s -> .` and `rt -> /` chains that
# defeat counting depth by text, links through directories and to
# directories). The host then uses the mount the ordinary way: cat, cp -r,
# cp -rL, tar, find -L, ls -lR, readlink -f and writes through the links.
# Checked on the HOST: the marker's content never shows in any output, its
# host-only file name never appears in a listing, the victim file keeps its
# sha256 and no new file appears in the marker directory. The sandbox keeps
# its own copy of the marker directory at the same path, so links that stay
# inside lead to a real file whose content is known (SANDBOX-COPY).
#
# FALLBACK=1: the same against a service whose statFile lacks linkResolved
# (tests/fs/strip_proxy.py): sbxfs resolves lexically, as safe, less exact.
. "$TESTS_DIR/fs/common.sh"
if [ -n "${FALLBACK:-}" ]; then
	command -v python3 >/dev/null || skip "no python3 for the proxy"
	start_sbxd
	python3 "$TESTS_DIR/fs/strip_proxy.py" "$T/strip.sock" "$SOCK" 2>"$T/proxy.log" &
	PROXY=$!
	trap 'rc=$?; kill "$PROXY" 2>/dev/null; set +e; (exit $rc); _cleanup' EXIT
	wait_for 10 test -S "$T/strip.sock"
	# shellcheck disable=SC2086
	SOCK=$T/strip.sock mount_sbxfs ${FS_MOUNT_OPTS:-}
else
	up
fi

H=$T/host
mkdir -p "$H" "$T/out"
secret="HOSTSECRET-$$-$RANDOM$RANDOM"
echo "$secret" >"$H/secret"
echo "host victim, never to change" >"$H/victim"
echo "$secret" >"$H/hostonly-marker"
vsum=$(sha256sum <"$H/victim")
hlist=$(ls -A "$H")

mkdir "$MNT/box"
F="$MNT/box/files"
wait_for 10 test -d "$F/etc"

# 20 ".." reach the host's / from anywhere the mount can be; the chains
# repeat a link to "." (or to "/") 20 times so that a text counter sees
# them as 20 levels of depth the ".." may climb back.
U=$(printf '../%.0s' $(seq 20))
S=$(printf 's/%.0s' $(seq 20))
R=$(printf 'rt/%.0s' $(seq 20))
Hr=${H#/}
cat >"$F/attack.sh" <<EOF
set -e
mkdir -p $H /w/a/b /w/sub /x/y /w2/lib /w2/bin
echo SANDBOX-COPY >$H/secret
echo sandbox-victim >$H/victim
ln -s . /s
ln -s / /rt
ln -s '$S$U$Hr/secret' /chain
ln -s '$R$U$Hr/secret' /rtchain
ln -s '$S$U$Hr/victim' /plantc
ln -s '$S$U$Hr/newfile' /plantnew
ln -s '$H/secret' /w/abs
ln -s '$H' /w/d
ln -s '$U$Hr/secret' /w/a/b/climb
ln -s '$U$Hr' /w/a/b/dd
ln -s '../../a/b/../../$U$Hr/secret' /w/a/b/thru
ln -s 'sub/../a/../$U$Hr/secret' /w/viadir
ln -s '../$S$U$Hr' /w/chaindir
ln -s '$H/victim' /w/plant
ln -s '$U$Hr/newfile2' /w/a/b/plantnew2
ln -s '$U' /x/y/beyond
ln -s '../../$S$U' /x/y/chainroot
echo libx >/w2/lib/x
ln -s ../lib/x /w2/bin/y
ln -s ./y /w2/bin/dot
ln -s /w2/lib/x /w2/bin/abs
ln -s ../lib /w2/bin/sl
ln -s sl/../lib/x /w2/bin/fid
echo h >/w2/lib/h1
ln /w2/lib/h1 /w2/bin/h2
EOF
pid=$(start_proc box 'sh /attack.sh')
eq "$(timeout 20 cat "$MNT/box/exec/$pid/returncode")" 0 "the attacker's set-up: $(cat "$MNT/box/exec/$pid/stderr")"

leaks=()
# check WHAT FILE: FILE (output of a host command) must hold neither the
# marker's content nor its host-only name.
check() {
	if grep -a -q -e "$secret" -e hostonly "$2" 2>/dev/null; then
		leaks+=("$1")
	fi
}

links=(chain rtchain plantc plantnew w/abs w/d w/a/b/climb w/a/b/dd w/a/b/thru w/viadir w/chaindir w/plant
	w/a/b/plantnew2 x/y/beyond x/y/chainroot)
for l in chain rtchain w/abs w/a/b/climb w/a/b/thru w/viadir; do
	cat "$F/$l" >"$T/out/cat" 2>&1 || true
	check "cat $l" "$T/out/cat"
done
for d in w/d w/a/b/dd w/chaindir "x/y/beyond$H" "x/y/chainroot$H"; do
	{ ls -la "$F/$d/" && cat "$F/$d/secret"; } >"$T/out/dir" 2>&1 || true
	check "ls + cat through $d" "$T/out/dir"
done
for l in "${links[@]}"; do
	r=$(readlink -f "$F/$l" 2>&1 || true)
	case "$r" in
	"$F" | "$F"/*) ;;
	*) leaks+=("readlink -f $l = $r") ;;
	esac
done

cp -r "$F/w" "$T/out/cp_r" 2>"$T/out/cp_r.err" || true
find "$T/out/cp_r" -type f -exec cat {} + >"$T/out/cp_r.cat" 2>&1 || true
check "cp -r" "$T/out/cp_r.cat"
cp -rL "$F/w" "$T/out/cp_rl" 2>"$T/out/cp_rl.err" || true
# what cp said, for a failure below (without the extension: ENOTSUP)
[ ! -s "$T/out/cp_rl.err" ] || note "cp -rL said: $(head -n 3 "$T/out/cp_rl.err" | tr '\n' ' ')"
{ find "$T/out/cp_rl" && find "$T/out/cp_rl" -type f -exec cat {} +; } >"$T/out/cp_rl.cat" 2>&1 || true
check "cp -rL" "$T/out/cp_rl.cat"
tar cf "$T/out/plain.tar" -C "$F" w 2>/dev/null || true
mkdir "$T/out/untar"
tar xf "$T/out/plain.tar" -C "$T/out/untar" 2>/dev/null || true
find "$T/out/untar" -type f -exec cat {} + >"$T/out/untar.cat" 2>&1 || true
check "tar c" "$T/out/untar.cat"
tar chf "$T/out/deref.tar" -C "$F" w 2>/dev/null || true
{ tar tvf "$T/out/deref.tar" && cat "$T/out/deref.tar"; } >"$T/out/deref.cat" 2>&1 || true
check "tar ch" "$T/out/deref.cat"
{ find -L "$F/w" && find -L "$F/w" -type f -exec cat {} +; } >"$T/out/find" 2>&1 || true
check "find -L" "$T/out/find"
ls -lR "$F/w" >"$T/out/ls" 2>&1 || true
check "ls -lR" "$T/out/ls"
ls -lRL "$F/w" >"$T/out/lsL" 2>&1 || true
check "ls -lRL" "$T/out/lsL"

# Writes through every link that points at the victim or a new file.
for l in plantc plantnew w/plant w/a/b/plantnew2; do
	echo data >"$F/$l" 2>/dev/null || true
	echo more >>"$F/$l" 2>/dev/null || true
	cp "$T/out/cat" "$F/$l" 2>/dev/null || true
done
[ "$(sha256sum <"$H/victim")" = "$vsum" ] || leaks+=("write: host victim changed: $(cat "$H/victim")")
[ "$(ls -A "$H")" = "$hlist" ] || leaks+=("write: new host files: $(ls -A "$H" | tr '\n' ' ')")
# ... and they landed in the sandbox's own files instead.
c=$(start_proc box "cat $H/victim $H/newfile $H/newfile2 2>&1 | tr '\n' ' '")
timeout 10 cat "$MNT/box/exec/$c/returncode" >/dev/null
note "inside after the writes: $(cat "$MNT/box/exec/$c/stdout")"

if [ ${#leaks[@]} -gt 0 ]; then
	printf 'LEAK: %s\n' "${leaks[@]}" >&2
	fail "${#leaks[@]} host reads/writes through the mount"
fi

# The links that stay inside lead to the sandbox's own marker copy.
for l in chain rtchain w/abs w/a/b/climb w/a/b/thru w/viadir; do
	eq "$(cat "$F/$l" 2>&1)" SANDBOX-COPY "cat $l reads the sandbox's own file"
done
for d in w/d w/a/b/dd w/chaindir "x/y/beyond$H" "x/y/chainroot$H"; do
	eq "$(cat "$F/$d/secret" 2>&1)" SANDBOX-COPY "cat $d/secret reads the sandbox's own file"
done
eq "$(cat "$T/out/cp_rl/d/secret" 2>&1)" SANDBOX-COPY "cp -rL copied the sandbox's own w/d/secret"
grep -q SANDBOX-COPY "$T/out/find" || fail "find -L did not reach the sandbox's own files"

# Ordinary relative links keep their own text and work; absolute ones show
# a rewritten text that leads to the right file inside.
eq "$(readlink "$F/w2/bin/y")" ../lib/x "a relative link's own text"
eq "$(cat "$F/w2/bin/y")" libx "reading through a relative link"
eq "$(readlink "$F/w2/bin/dot")" ./y "a ./ link's own text"
eq "$(cat "$F/w2/bin/dot")" libx "reading through ./y"
eq "$(readlink "$F/w2/bin/abs")" ../lib/x "an absolute link within w2, rewritten"
eq "$(cat "$F/w2/bin/abs")" libx "reading through an absolute link"
eq "$(readlink "$F/w/abs")" "../$Hr/secret" "an absolute link to the marker path, rewritten"
# sl/../lib/x: ".." after a link, resolved by sbxd as the sandbox would;
# lexically (sl taken for a directory) without linkResolved
if [ -n "${FALLBACK:-}" ]; then
	eq "$(readlink "$F/w2/bin/fid")" lib/x "sl/../lib/x shown lexically"
else
	eq "$(cat "$F/w2/bin/fid")" libx "reading through sl/../lib/x"
	eq "$(readlink "$F/w2/bin/fid")" ../lib/x "sl/../lib/x shown resolved"
fi
eq "$(readlink "$F/chain")" "$Hr/secret" "the s-chain shown resolved"
# node numbers are per path, never per inode: one file at two paths is two
# nodes, so the kernel never sees one node (and its depth) at two places
# (that number is the kernel's node id, never shown to a process: stat's
# st_ino and readdir's d_ino are the sandbox's own, one for both names, so
# tar and cp -a pair hard links; the walks above are what the node ids
# keep safe)
eq "$(stat -c %i "$F/w2/lib/h1")" "$(stat -c %i "$F/w2/bin/h2")" "st_ino of two names of one file"
eq "$(readlink "$F/x/y/beyond")" ../.. "a link past the root shows the root"
echo ok
