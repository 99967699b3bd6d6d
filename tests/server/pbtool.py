#!/usr/bin/python3
"""The binary encoding's judge for tests/server/encoding.sh: python3-
protobuf (stubs made from proto/ at run time by the conformance checker's
Schema) against sbxd's answers.

  pbtool.py encode METHOD PATH JSON    the route's request, given as JSON,
                                       in binary on stdout
  pbtool.py same METHOD PATH JSON BIN  exit 0 when the file BIN is the
                                       route's answer in binary and the
                                       same message as the file JSON (its
                                       JSON answer); else says how not
Exit 77 without protoc or python3-protobuf."""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance"))
if not shutil.which("protoc"):
    sys.exit(77)
try:
    import google.protobuf  # noqa: F401
except ImportError:
    sys.exit(77)
import wirecheck  # noqa: E402
from google.protobuf import json_format  # noqa: E402


def route(schema, method, path):
    r, _ = schema.match_ext(method, path.split("?")[0])
    if r is None:
        sys.exit("pbtool: %s %s is no extension call" % (method, path))
    return r


def main(argv):
    schema = wirecheck.Schema()
    if argv[1] == "encode":
        m = route(schema, argv[2], argv[3])["req"]()
        json_format.Parse(argv[4], m)
        sys.stdout.buffer.write(m.SerializeToString())
        return 0
    if argv[1] == "same":
        r = route(schema, argv[2], argv[3])
        from_json = r["resp"]()
        json_format.Parse(open(argv[4]).read(), from_json)
        from_bin = r["resp"]()
        data = open(argv[5], "rb").read()
        from_bin.ParseFromString(data)
        if from_bin != from_json:
            print("binary and JSON answers differ:\n%s\n---\n%s" % (from_bin, from_json))
            return 1
        if from_bin.SerializeToString() != data:
            print("binary answer not canonical (%d bytes)" % len(data))
            return 1
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
