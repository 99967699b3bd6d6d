#!/bin/sh
# Runs protoc-c over the schema into a scratch tree, then flattens the
# output into OUTDIR: meson's custom_target cannot declare outputs in
# subfolders, and every basename of the schema is unique (meson.build
# lists them), so "google/rpc/status.pb-c.h" becomes "status.pb-c.h" and
# the generated #include lines are rewritten to match. Nothing generated is
# kept in the source tree.
# usage: protoc-c.sh PROTOC_C OUTDIR PROTO_DIR WKT_DIR FILE.proto...
set -eu
protoc_c=$1 out=$2 proto=$3 wkt=$4
shift 4
tmp=$out/protoc-c.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
"$protoc_c" -I"$proto" -I"$wkt" --c_out="$tmp" "$@"
for f in "$@"; do
	stem=${f%.proto}
	base=$(basename "$stem")
	for ext in .pb-c.c .pb-c.h; do
		sed -E 's|^#include "([A-Za-z0-9_]+/)*([A-Za-z0-9_]+\.pb-c\.h)"|#include "\2"|' \
			"$tmp/$stem$ext" >"$out/$base$ext.new"
		mv "$out/$base$ext.new" "$out/$base$ext"
	done
done
rm -rf "$tmp"
