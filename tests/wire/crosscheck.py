#!/usr/bin/python3
"""python3-protobuf judges the C codec (wire/), meson tests wire_crosscheck
and wire_routes. The stubs come from proto/ through protoc at run time
(tests/conformance/wirecheck.Schema), so both sides read the same schema.

wire_crosscheck, for every message type of the schema (the C registry's
list must equal python's: no type missing on either side):
  - C fills a message (tests/wire/fill.c: every field, edge values; several
    seeds so each oneof member is taken) and encodes it: python's strict
    parser (json_format.Parse, ignore_unknown_fields=False) must accept the
    text, and python's canonical form of what it parsed (MessageToJson)
    must equal the C text, key order and whitespace aside;
  - python's canonical JSON of that message, given to the C decoder and
    encoded again, must come back equal (C reads what python writes).
Then hand-written cases: inputs both must refuse (C with an error, python
with ParseError), and inputs both accept whose canonical forms must agree.

wire_routes (--routes): the C route table (wire/routes.c) equals the
google.api.http options of the compiled descriptor, row for row.

usage: crosscheck.py [--routes] WIRE_TOOL      exit 77 without protoc or
python3-protobuf (scripts/setup installs them)."""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "conformance"))

if not shutil.which("protoc"):
    print("SKIP: no protoc")
    sys.exit(77)
try:
    import google.protobuf  # noqa: F401
except ImportError:
    print("SKIP: no google.protobuf (python3-protobuf)")
    sys.exit(77)

import wirecheck  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.protobuf import symbol_database  # noqa: E402

failed = 0


def expect(cond, what):
    global failed
    if not cond:
        failed += 1
        print("FAIL " + what)
    return cond


class Tool:
    def __init__(self, path):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  encoding="utf-8")

    def ask(self, line):
        assert "\n" not in line
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().rstrip("\n")

    def lines(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        out = []
        while True:
            line = self.p.stdout.readline().rstrip("\n")
            if line == "." or not line:
                return out
            out.append(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def all_types(schema):
    """Every message type python knows from the schema's files, with the
    nested ones (map entries aside: they exist only inside maps)."""
    out = {}

    def walk(d):
        if d.GetOptions().map_entry:
            return
        out[d.full_name] = d
        for n in d.nested_types:
            walk(n)
    for mod in (schema.sandbox, schema.status, schema.details):
        for d in mod.DESCRIPTOR.message_types_by_name.values():
            walk(d)
    return out


def cls(desc):
    return symbol_database.Default().GetPrototype(desc)


def routes(tool, schema):
    c = [json.loads(x) for x in tool.lines("routes")]
    py = [{"rpc": r["rpc"], "method": r["method"], "path": r["template"], "body": r["body"],
           "req": r["req"].DESCRIPTOR.full_name, "resp": r["resp"].DESCRIPTOR.full_name} for r in schema.routes]
    expect(len(py) == 13, "the schema has 13 HTTP bindings (got %d)" % len(py))
    expect(len(c) == len(py), "C table has %d rows, the descriptor %d" % (len(c), len(py)))
    for a, b in zip(c, py):
        expect(a == b, "route row differs:\n  C    %s\n  .proto %s" % (a, b))
    print("%d routes compared" % len(py))


def crosscheck(tool, schema):
    py_types = all_types(schema)
    c_types = [t for t in tool.lines("types") if not t.endswith("Entry") or t == "coreweave.sandbox.v1.LogEntry"]
    # C's registry: types reachable from the service and google.rpc (plus
    # the WKTs they use); python's: every message of the three files.
    wkt = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.Any"}
    expect(set(c_types) - wkt == set(py_types),
           "C registry vs python's types: only in C %s, only in python %s"
           % (sorted(set(c_types) - wkt - set(py_types)), sorted(set(py_types) - set(c_types))))
    n = 0
    for name in sorted(py_types):
        k = cls(py_types[name])
        for seed in range(6):
            ans = tool.ask("fill %s %d" % (name, seed))
            if not expect(ans.startswith("ok "), "%s seed %d: C could not encode: %s" % (name, seed, ans)):
                continue
            text = ans[3:]
            msg = k()
            try:
                json_format.Parse(text, msg, ignore_unknown_fields=False)
            except json_format.ParseError as e:
                expect(False, "%s seed %d: python refuses C's output: %s\n  %s" % (name, seed, e, text))
                continue
            canon = json_format.MessageToJson(msg)
            expect(json.loads(canon) == json.loads(text),
                   "%s seed %d: C's output is not python's canonical form:\n  C  %s\n  py %s"
                   % (name, seed, text, json.dumps(json.loads(canon), separators=(",", ":"))))
            # python -> C -> C: the C decoder reads python's canonical text
            back = tool.ask("decode %s %s" % (name, json.dumps(json.loads(canon), ensure_ascii=True)))
            expect(back.startswith("ok ") and json.loads(back[3:]) == json.loads(canon),
                   "%s seed %d: C does not read python's canonical form back: %s" % (name, seed, back))
            n += 1
    print("%d populated messages of %d types cross-checked" % (n, len(py_types)))


# (type, JSON) that proto3 JSON parsers refuse: C must refuse them too.
BAD = [
    ("coreweave.sandbox.v1.Sandbox", '{"spec":{"containers":[{"name":"main","bogus":1}]}}'),
    ("coreweave.sandbox.v1.SandboxStatus", '{"endTime":""}'),
    ("coreweave.sandbox.v1.SandboxStatus", '{"state":"STATE_RUNNNING"}'),
    ("coreweave.sandbox.v1.SandboxSpec", '{"maxLifetimeSeconds":2147483648}'),
    ("coreweave.sandbox.v1.SandboxSpec", '{"maxLifetimeSeconds":1.5}'),
    ("coreweave.sandbox.v1.SandboxSpec", '{"tags":"a"}'),
    ("coreweave.sandbox.v1.SandboxSpec", '{"tags":["a",1]}'),
    ("coreweave.sandbox.v1.SandboxSpec", '{"annotations":{"a":1}}'),
    ("coreweave.sandbox.v1.SandboxSpec", '{"tags":[],"tags":[]}'),
    ("coreweave.sandbox.v1.ExecResponse", '{"stdoutTruncated":"true"}'),
    ("coreweave.sandbox.v1.ExecResponse", '{"stdoutBytesProduced":"1.5"}'),
    ("coreweave.sandbox.v1.EgressRule", '{"dnsName":"a","any":true}'),
    ("coreweave.sandbox.v1.SandboxStatus", '{"createTime":"2026-02-30T00:00:00Z"}'),
    ("coreweave.sandbox.v1.SandboxStatus", '{"createTime":"2026-05-01T12:00:00"}'),
    ("coreweave.sandbox.v1.SecurityContext", '{"runAsUser":-1}'),
    ("google.rpc.RetryInfo", '{"retryDelay":"1.5"}'),
    ("google.rpc.Status", '{"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","bogus":1}]}'),
    ("coreweave.sandbox.v1.Container", '{"name":1}'),
    ("coreweave.sandbox.v1.Container", '{"name":"a"} x'),
]
# Both accept; their canonical forms must agree.
GOOD = [
    ("coreweave.sandbox.v1.ExecResponse", '{"stdoutBytesProduced":3,"stdout":"_-8"}'),
    ("coreweave.sandbox.v1.SandboxSpec", '{"max_lifetime_seconds":"600","tags":["a"]}'),
    ("coreweave.sandbox.v1.SandboxStatus", '{"state":2,"exitCode":0,"createTime":"2026-05-01T14:00:00.5+02:00"}'),
    ("coreweave.sandbox.v1.SandboxStatus", '{"stateReason":"","endTime":null}'),
    ("google.rpc.RetryInfo", '{"retryDelay":"-0.5s"}'),
    ("coreweave.sandbox.v1.Sandbox", '{"spec":{"containers":[{"name":"main","image":"python:3.11",'
     '"command":"/bin/sh","args":["-c","echo hi"]}],"primaryContainer":"main","tags":["team-a"]}}'),
]


def cases(tool, schema):
    types = all_types(schema)
    for name, text in BAD:
        msg = cls(types[name])()
        try:
            json_format.Parse(text, msg, ignore_unknown_fields=False)
            py_ok = True
        except json_format.ParseError:
            py_ok = False
        ans = tool.ask("decode %s %s" % (name, text))
        expect(not py_ok, "python accepts %s %s (the case is wrong)" % (name, text))
        expect(ans.startswith("err "), "C accepts what python refuses: %s %s -> %s" % (name, text, ans))
    for name, text in GOOD:
        msg = cls(types[name])()
        json_format.Parse(text, msg, ignore_unknown_fields=False)
        ans = tool.ask("decode %s %s" % (name, text))
        expect(ans.startswith("ok ") and json.loads(ans[3:]) == json.loads(json_format.MessageToJson(msg)),
               "%s %s: C %s, python %s" % (name, text, ans, json_format.MessageToJson(msg, indent=None)))
    print("%d refusals and %d acceptances compared" % (len(BAD), len(GOOD)))


def main(argv):
    only_routes = argv[1:2] == ["--routes"]
    tool = Tool(argv[-1])
    schema = wirecheck.Schema()
    try:
        if only_routes:
            routes(tool, schema)
        else:
            crosscheck(tool, schema)
            cases(tool, schema)
    finally:
        tool.close()
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
