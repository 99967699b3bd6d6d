#!/bin/bash
# The warm pool (sbxd --warm-pool N, docs/sbxd.8): creates whose spec a
# pre-made box can serve take one, each claimed box is one no command ran
# in (nothing of one sandbox reaches the next), the spec's env, limits,
# hostname and tags hold inside, specs the pool cannot serve take the cold
# path, members never show in List or Get, count against --max-sandboxes,
# and leave nothing on the HOST when sbxd stops (cgroups, processes, live
# files, mounts), kill -9 included; --warm-pool 0 makes nothing ahead.
# Pool members are found on the host: the box cgroups under the instance's
# sbxd-<hash>/ that are no sandbox's.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
SBX_LIVE=1 # live restore on: a SIGTERM stop must still end every member

start_sbxd --warm-pool 2 --max-sandboxes 7 --allow-host-image

# The instance's cgroup parent (cgroup2: grouping on this hybrid layout,
# the controllers on a pure one) and v1 controller dirs when there are.
cg_parent() {
	local c line
	for c in $(pgrep -P "$SBXD_PID"); do
		line=$(grep -m1 '^0::/sbxd-' "/proc/$c/cgroup" 2>/dev/null) || continue
		line=${line#0::/}
		echo "${line%%/*}"
		return 0
	done
	return 1
}
wait_for 20 cg_parent >/dev/null
PFX=$(cg_parent)
if [ -d "/sys/fs/cgroup/unified/$PFX" ]; then V2=/sys/fs/cgroup/unified/$PFX; else V2=/sys/fs/cgroup/$PFX; fi
MEMD=/sys/fs/cgroup/memory/$PFX PIDSD=/sys/fs/cgroup/pids/$PFX CPUD=/sys/fs/cgroup/cpu/$PFX
[ -d "$MEMD" ] || { MEMD=$V2 PIDSD=$V2 CPUD=$V2; }
boxes() { find "$V2" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort; }
listed() {
	api GET '/v1/sandboxes?pageSize=1000' | python3 -c '
import json, sys
print("\n".join(sorted(s["sandboxId"] for s in json.load(sys.stdin).get("sandboxes", []))))'
}
# members: box cgroups that no live sandbox has (the pool's)
members() { comm -23 <(boxes) <(listed | sed '/^$/d'); }
nmembers() { members | sed '/^$/d' | wc -l; }
pool_full() { [ "$(nmembers)" -eq "${1:-2}" ]; }
wait_for 30 pool_full

# --- members are invisible: no List, no Get
mapfile -t before < <(members)
note "members: ${before[*]}"
expect "List with only members" "$(listed | sed '/^$/d' | wc -l)" 0
expect "Get of a member" "$(api_status GET "/v1/sandboxes/${before[0]}")" 404

# --- a claim: the spec's env, limits, hostname and tags, a member's id
a=$(create "$(sbx_body name=wa tag=team=x env=FOO=bar-a memory=200Mi cpu=250m pids=77)")
grep -qx "$a" <<<"$(printf '%s\n' "${before[@]}")" || fail "create A did not take a member ($a; members ${before[*]})"
expect "A hostname" "$(exec_sh "$a" hostname)" wa
expect "A env" "$(exec_sh "$a" 'echo $FOO')" bar-a
if [ -f "$MEMD/$a/memory.limit_in_bytes" ]; then mem=$(cat "$MEMD/$a/memory.limit_in_bytes"); else mem=$(cat "$MEMD/$a/memory.max"); fi
expect "A memory limit on the host" "$mem" $((200 << 20))
expect "A pids limit on the host" "$(cat "$PIDSD/$a/pids.max")" 77
if [ -f "$CPUD/$a/cpu.cfs_quota_us" ]; then cpu=$(cat "$CPUD/$a/cpu.cfs_quota_us"); else cpu=$(cut -d' ' -f1 "$CPUD/$a/cpu.max"); fi
expect "A cpu quota on the host" "$cpu" 25000
# the scratch tmpfs follows the memory limit, its mounts keep nosuid,nodev
expect "A /tmp size" "$(exec_sh "$a" 'df -B1 --output=size /tmp | tail -1 | tr -d " "')" $((200 << 20))
case "$(exec_sh "$a" 'grep " /tmp " /proc/mounts')" in
*nosuid,nodev*) ;;
*) fail "A's /tmp lost nosuid,nodev: $(exec_sh "$a" 'grep " /tmp " /proc/mounts')" ;;
esac
got=$(api GET "/v1/sandboxes/$a")
expect "A tags in Get" "$(jget "$got" '",".join(j["spec"]["tags"])')" "sbxfs-name=wa,team=x"
expect "A state" "$(jget "$got" 'j["status"]["state"]')" STATE_RUNNING
# A leaves traces a next tenant must not see
exec_sh "$a" 'echo secret-a >/tmp/mark; echo secret-a >/root/mark; echo m >/dev/shm/mark; (sleep 300 >/dev/null 2>&1 &); hostname' >/dev/null
expect "A's marker" "$(exec_sh "$a" 'cat /tmp/mark')" secret-a

# --- the pool refills in the background; the next claim is a fresh box
wait_for 30 pool_full
mapfile -t before < <(members)
grep -qx "$a" <<<"$(printf '%s\n' "${before[@]}")" && fail "A's box went back to the pool"
b=$(create "$(sbx_body)")
grep -qx "$b" <<<"$(printf '%s\n' "${before[@]}")" || fail "create B did not take a member"
[ "$b" != "$a" ] || fail "B is A"
expect "B sees none of A's files" "$(exec_sh "$b" 'test -e /tmp/mark || test -e /dev/shm/mark || test -e /root/mark && echo there || echo none')" none
expect "B's /tmp and /dev/shm are empty" "$(exec_sh "$b" 'find /tmp /dev/shm -mindepth 1 | wc -l')" 0
expect "B hostname is its id" "$(exec_sh "$b" hostname)" "$b"
expect "B env has no FOO" "$(exec_sh "$b" 'echo ${FOO:-unset}')" unset
# pids: init and this shell's own, no sleep of A's
expect "B processes" "$(exec_sh "$b" 'ps -e -o comm=' | sort | tr '\n' ' ')" "ps sbx-init sh "
if [ -f "$MEMD/$b/memory.limit_in_bytes" ]; then mem=$(cat "$MEMD/$b/memory.limit_in_bytes"); else mem=$(cat "$MEMD/$b/memory.max"); fi
expect "B memory limit (the default)" "$mem" $((2 << 30))
expect "B pids limit (the default)" "$(cat "$PIDSD/$b/pids.max")" 1024
expect "A still has its mark" "$(exec_sh "$a" 'cat /tmp/mark')" secret-a

# --- specs the pool cannot serve take the cold path, members untouched
wait_for 30 pool_full
mapfile -t before < <(members)
cold() {
	local id
	id=$(create "$1")
	if grep -qx "$id" <<<"$(printf '%s\n' "${before[@]}")"; then fail "$2 took a pool member"; fi
	expect "$2: members untouched" "$(members | tr '\n' ' ')" "$(printf '%s ' "${before[@]}")"
	echo "$id"
}
h=$(cold "$(sbx_body image=host)" "another image")
v=$(cold '{"spec":{"containers":[{"name":"main","image":"default","volumeMounts":[{"volume":"d","mountPath":"/data"}]}],"volumes":[{"name":"d","scratch":{"size":"4Mi"}}]}}' "volumes")
expect "the volume is there" "$(exec_sh "$v" 'grep -c " /data " /proc/mounts')" 1
if command -v slirp4netns >/dev/null; then
	e=$(cold "$(sbx_body 'net={"egress":[{"any":true}]}')" "egress")
	[ "$(pgrep -x slirp4netns -P "$SBXD_PID" | wc -l)" -ge 1 ] || fail "the egress sandbox has no network stack"
	api DELETE "/v1/sandboxes/$e?gracePeriodSeconds=0" >/dev/null
fi

# --- --max-sandboxes 7 counts members: live sandboxes + members <= 7.
# Cold creates (image host) make room by dropping members; claims would
# only move a box from the pool to a sandbox.
settled() { [ "$(boxes | wc -l)" -le 7 ]; }
caps=()
for i in 1 2 3; do
	caps+=("$(create "$(sbx_body image=host)")")
	wait_for 20 settled
done
expect "live sandboxes" "$(listed | sed '/^$/d' | wc -l)" 7
expect "boxes on the host: seven live, no member" "$(boxes | wc -l) $(nmembers)" "7 0"
expect "an eighth create" "$(api_status POST /v1/sandboxes -d "$(sbx_body)")" 429
sleep 1.2 # the pool looks for room once a second: still none
expect "still no member at the cap" "$(nmembers)" 0
for id in "${caps[@]}" "$h"; do api DELETE "/v1/sandboxes/$id?gracePeriodSeconds=0" >/dev/null; done
# (a scratch volume is a host tmpfs until its sandbox is purged)
api POST "/v1/sandboxes/$v:forget?gracePeriodSeconds=0" >/dev/null
wait_for 30 pool_full

# --- SIGTERM under live restore: A and B stay, every member goes
mapfile -t before < <(members)
detach_sbxd
for m in "${before[@]}"; do
	[ ! -e "$V2/$m" ] || fail "member $m's cgroup is left after sbxd stopped"
	[ ! -e "$STATE/live/$m.sock" ] || fail "member $m's live socket is left"
done
[ -d "$V2/$a" ] && [ -d "$V2/$b" ] || fail "live restore did not keep A and B"
grep -q "warm pool: [0-9]* made, 2 creates served from it" "$T/sbxd.log" ||
	fail "no count of 2 claims in the log: $(grep 'warm pool' "$T/sbxd.log")"

# --- kill -9: members a crashed sbxd left are ended at the next start
start_sbxd --warm-pool 2 --max-sandboxes 7
expect "A taken back" "$(state_of "$a")" STATE_RUNNING
expect "A's mark after the restart" "$(exec_sh "$a" 'cat /tmp/mark')" secret-a
wait_for 30 pool_full
mapfile -t before < <(members)
kill -9 "$SBXD_PID"
wait "$SBXD_PID" 2>/dev/null || true
SBXD_PID=
start_sbxd --warm-pool 0
for m in "${before[@]}"; do
	[ ! -e "$V2/$m" ] || fail "member $m of the killed sbxd is left after the restart"
done

# --- --warm-pool 0: nothing made ahead, creates as before
expect "members with --warm-pool 0" "$(nmembers)" 0
z=$(create "$(sbx_body name=z)")
expect "z runs" "$(exec_sh "$z" 'hostname')" z
sleep 0.5
expect "members with --warm-pool 0, after a create" "$(nmembers)" 0

# --- a full stop: nothing of the pool or any sandbox on the host
stop_sbxd
expect "box cgroups after the stop" "$(boxes | wc -l)" 0
left=$(ls "$STATE/live" 2>/dev/null | wc -l)
expect "live files after the stop" "$left" 0
! grep "$STATE" /proc/self/mountinfo || fail "a mount of the state dir is on the host"
# (an adopted init is not sbxd's child: its reaper may take a moment;
# a zombie holds nothing)
no_init_left() {
	local p
	for p in $(pgrep -x sbx-init); do
		[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] || continue
		if grep -q "/$PFX/" "/proc/$p/cgroup" 2>/dev/null; then return 1; fi
	done
	return 0
}
wait_for 10 no_init_left
echo "PASS"
