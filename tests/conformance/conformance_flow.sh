#!/usr/bin/env bash
# meson test 'conformance_flow' (suite conformance): the representative
# flow (flow.sh: sbxfs with the extension, sbxfs on the strict fake without
# it, curl with the SDK's bodies and errors) recorded, then every exchange
# judged by wirecheck.py against proto/ (the real schema and sbxd's
# extension): zero failures or the test fails with the report. The whole
# suite under the recorder (scripts/conformance --suite) takes minutes and
# stays a script. Skips (77) without python3-protobuf or protoc.
set -uo pipefail
: "${SBXD:?}" "${TESTS_DIR:?}"
PY=/usr/bin/python3
"$PY" -c 'import google.protobuf' 2>/dev/null || { echo "SKIP: no python3-protobuf"; exit 77; }
command -v protoc >/dev/null || { echo "SKIP: no protoc"; exit 77; }
out=$(mktemp -d /tmp/sbxconf.XXXXXX)
trap 'rm -rf "$out"' EXIT
CONFORMANCE_LOG=$out/exchanges.jsonl bash "$TESTS_DIR/conformance/flow.sh"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: the flow itself failed ($rc)" >&2; exit 1; }
PYTHONDONTWRITEBYTECODE=1 "$PY" "$TESTS_DIR/conformance/wirecheck.py" report "$out/exchanges.jsonl" >"$out/report.txt"
rc=$?
tail -n 1 "$out/report.txt"
if [ $rc -ne 0 ]; then
	echo "FAIL: exchanges off the schema:" >&2
	head -c 20000 "$out/report.txt" >&2
	exit 1
fi
grep -q "fail 0," "$out/report.txt" || { echo "FAIL: no verdict line in the report" >&2; exit 1; }
# sbxfs against sbxd speaks the extension in binary (docs/api.md,
# "Encodings"), each exchange judged above as binary; JSON everywhere
# else (a binary real call or error fails the check)
grep "^answers in binary" "$out/report.txt"
grep -Eq "^answers in binary .*libsbx [1-9]" "$out/report.txt" ||
	{ echo "FAIL: libsbx made no extension call in binary" >&2; exit 1; }
echo ok
