#!/bin/bash
# sbxd's indexes of sandboxes (issue 14: a lookup costs the same with 10
# or 1,000 sandboxes): GetSandbox finds a sandbox through the id index, a
# List or Purge filtered by tags through the tag index, and a page of a
# List starts past its token by a binary search. This checks they answer
# as a scan would, across enough creates to grow the tables, a tag given
# twice, pages, a stop, :forget, a purge, an sbxd restart (the records
# reloaded from the state dir) and the retention's expiry.
. "$TESTS_DIR/lib.sh"
. "$TESTS_DIR/server/common.sh"
start_sbxd

N=40 # past the tables' first size (64 places, at most half full)
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -1; }
ids=() a=() b=()
for i in $(seq 1 "$N"); do
	g=$([ $((i % 2)) = 1 ] && echo a || echo b)
	id=$(api POST /v1/sandboxes -d "$(sbx_body name=n$i tag=grp=$g tag=all)" | field sandboxId)
	[ -n "$id" ] || fail "create $i"
	ids+=("$id")
	if [ "$g" = a ]; then a+=("$id"); else b+=("$id"); fi
done

# ids of a List by tag TAG (urlencoded by the caller), all pages of SIZE
listed() {
	local tag=$1 size=$2 tok="" out all=()
	while :; do
		out=$(api GET "/v1/sandboxes?tags=$tag&showTerminated=true&pageSize=$size${tok:+&pageToken=$tok}")
		all+=($(jget "$out" '" ".join(s["sandboxId"] for s in j.get("sandboxes", []))'))
		tok=$(jget "$out" 'j.get("nextPageToken", "")')
		[ -n "$tok" ] || break
	done
	echo "${all[*]}"
}
get_id() { api GET "/v1/sandboxes/$1" | field sandboxId; }
gone() { [ "$(api_status GET "/v1/sandboxes/$1")" = 404 ]; }
check_all() { # WHAT: every id in ids found by GET as itself, the tag lists as a, b
	local id
	for id in "${ids[@]}"; do
		expect "$1: GET $id" "$(get_id "$id")" "$id"
	done
	expect "$1: grp=a in creation order, pages of 7" "$(listed grp%3Da 7)" "${a[*]}"
	expect "$1: grp=b, one page" "$(listed grp%3Db 1000)" "${b[*]}"
	expect "$1: all, pages of 1" "$(listed all 1)" "${ids[*]}"
}
check_all "after $N creates"
expect "by its name tag" "$(listed sbxfs-name%3Dn5 10)" "${ids[4]}"
expect "two tags, both must match" "$(listed "grp%3Da&tags=sbxfs-name%3Dn7" 10)" "${ids[6]}"
expect "two tags that no one has both of" "$(listed "grp%3Db&tags=sbxfs-name%3Dn7" 10)" ""
expect "a tag no one has" "$(listed nobody 10)" ""
expect "GET of an id no one has" "$(api_status GET /v1/sandboxes/nobody)" 404

# a tag given twice is one entry of the index
dup=$(api POST /v1/sandboxes -d "$(sbx_body tag=dup tag=dup)" | field sandboxId)
expect "a tag given twice lists once" "$(listed dup 10)" "$dup"

# a stop keeps the record (found, listed with showTerminated)
api DELETE "/v1/sandboxes/${ids[0]}" >/dev/null
expect "a stopped one by GET" "$(get_id "${ids[0]}")" "${ids[0]}"
expect "a stopped one by tag" "$(listed sbxfs-name%3Dn1 10)" "${ids[0]}"

# :forget of every third: gone from GET and every tag, the rest all found
# (the id table closes its gaps)
keep=() ka=() kb=() gone=()
for k in "${!ids[@]}"; do
	id=${ids[$k]}
	if [ $((k % 3)) = 2 ]; then
		api POST "/v1/sandboxes/$id:forget" >/dev/null
		gone+=("$id")
	else
		keep+=("$id")
		if [ $((k % 2)) = 0 ]; then ka+=("$id"); else kb+=("$id"); fi
	fi
done
for id in "${gone[@]}"; do
	wait_for 10 gone "$id"
done
ids=("${keep[@]}") a=("${ka[@]}") b=("${kb[@]}")
check_all "after forgetting ${#gone[@]}"
expect "a forgotten one's name tag" "$(listed sbxfs-name%3Dn3 10)" ""

# Purge by tag: the live ones of grp=b stop, still found
n=$(jget "$(api POST /v1/sandboxes:purge -d '{"tags": ["grp=b"]}')" 'j.get("purgeCount", 0)')
expect "purged" "$n" "${#b[@]}"
check_all "after the purge of grp=b"

# an sbxd restart: the records loaded again, into the indexes
stop_sbxd
start_sbxd
check_all "after a restart"
expect "the dup one after a restart" "$(listed dup 10)" "$dup"

# the retention's expiry: the restart ended every sandbox (sbxd stopped,
# no live restore), so with --retention 1 all go, from GET and every tag;
# new ones with the same tags are found again
stop_sbxd
start_sbxd --retention 1
for id in "${ids[@]}" "$dup"; do
	wait_for 10 gone "$id"
done
expect "grp=a after the expiry" "$(listed grp%3Da 5)" ""
expect "all after the expiry" "$(listed all 1000)" ""
expect "dup after the expiry" "$(listed dup 10)" ""
new=()
for i in 1 2 3; do
	new+=("$(api POST /v1/sandboxes -d "$(sbx_body name=n$i tag=grp=a tag=all)" | field sandboxId)")
done
ids=("${new[@]}") a=("${new[@]}") b=()
check_all "new ones after the expiry"
expect "a name again" "$(listed sbxfs-name%3Dn2 10)" "${new[1]}"
note "index ok"
