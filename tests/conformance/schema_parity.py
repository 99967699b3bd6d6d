#!/usr/bin/python3
"""Checks the project's proto/coreweave/sandbox/v1/sandbox.proto against the
reference schema (../shared/cwsandbox-api/sandbox.reference.proto, the
managed service's descriptors written out): every enum and value, every
message, field name, number, type, label, JSON name, oneof and proto3
`optional` (ours: a one-field oneof `_name`), every RPC with its streaming
and HTTP binding. Both directions: nothing missing, nothing added.

usage: schema_parity.py [REFERENCE]   (exit 0 same, 1 differences, 77 no reference)
As a module: parity(schema, reference_path) -> list of differences."""
import os
import re
import sys

from wirecheck import REPO, Schema

# ../shared beside the checkout (CI, /work/main) or beside a work tree's
# parent (/work/wt/NAME); CWSANDBOX_API_DIR overrides.
REF_CANDIDATES = [os.environ.get("CWSANDBOX_API_DIR", "")] + [
    os.path.join(os.path.dirname(REPO), *[".."] * up, "shared", "cwsandbox-api") for up in (0, 1)]
DEFAULT_REF = next((os.path.join(d, "sandbox.reference.proto") for d in REF_CANDIDATES
                    if d and os.path.exists(os.path.join(d, "sandbox.reference.proto"))),
                   os.path.join(os.path.dirname(REPO), "shared", "cwsandbox-api", "sandbox.reference.proto"))
SCALARS = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
           "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes"}


def read_reference(path):
    """The reference file -> (enums {name: {value: number}}, messages {name:
    [field dicts]}, rpcs {name: dict})."""
    enums, msgs, rpcs = {}, {}, {}
    enum_re = re.compile(r"enum (\w+) \{ (.*) \}")
    cur = None
    for line in open(path):
        s = line.strip()
        for m in enum_re.finditer(s):
            scope = cur + "." if cur and line.startswith(" ") else ""
            enums[scope + m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
        m = re.match(r"message (\w+) \{", s)
        if m:
            cur = m.group(1)
            msgs[cur] = []
            continue
        if s == "}" or s.startswith("message") and s.endswith("}"):
            cur = None
            continue
        m = re.match(r"(optional |repeated )?(map<\w+, \w+>|[\w.]+) (\w+) = (\d+); // json \"(\w+)\"(.*)", s)
        if m and cur:
            label, typ, name, num, jn, rest = m.groups()
            oneof = re.search(r"/\*oneof (\w+)\*/", rest)
            msgs[cur].append({"label": (label or "").strip(), "type": typ, "name": name, "num": int(num),
                              "json": jn, "oneof": oneof.group(1) if oneof else None})
            continue
        m = re.match(r"rpc (\w+)\((stream )?(\w+)\) returns \((stream )?(\w+)\); // (.*)", s)
        if m:
            name, cs, inp, ss, out, http = m.groups()
            b = re.match(r"HTTP (\w+) (\S+) body=\"(.*)\"", http)
            rpcs[name] = {"in": inp, "out": out, "cs": bool(cs), "ss": bool(ss),
                          "http": (b.group(1), b.group(2), b.group(3)) if b else None}
    return enums, msgs, rpcs


def type_name(f):
    """A descriptor field's type as the reference writes it."""
    if f.message_type is not None:
        mt = f.message_type
        if mt.GetOptions().map_entry:
            k, v = mt.fields_by_name["key"], mt.fields_by_name["value"]
            return "map<%s, %s>" % (type_name(k), type_name(v))
        if mt.full_name.startswith("google.protobuf."):
            return mt.full_name
        return mt.full_name.replace("coreweave.sandbox.v1.", "")
    if f.enum_type is not None:
        return f.enum_type.full_name.replace("coreweave.sandbox.v1.", "")
    from google.protobuf.descriptor import FieldDescriptor as FD
    for n in SCALARS:
        if getattr(FD, "TYPE_" + n.upper()) == f.type:
            return n
    return "?"


def parity(schema, ref, counts=None):
    enums, msgs, rpcs = read_reference(ref)
    if counts is not None:
        counts.update(enums=len(enums), messages=len(msgs), fields=sum(len(v) for v in msgs.values()),
                      rpcs=len(rpcs))
    fd = schema.sandbox.DESCRIPTOR
    out = []
    ours_enums = {}
    for e in fd.enum_types_by_name.values():
        ours_enums[e.name] = {v.name: v.number for v in e.values}
    ours_msgs = {}

    def walk(m, prefix=""):
        ours_msgs[prefix + m.name] = m
        for e in m.enum_types:
            ours_enums[prefix + m.name + "." + e.name] = {v.name: v.number for v in e.values}
        for n in m.nested_types:
            if not n.GetOptions().map_entry:
                walk(n, prefix + m.name + ".")
    for m in fd.message_types_by_name.values():
        walk(m)
    for name in sorted(set(enums) | set(ours_enums)):
        if enums.get(name) != ours_enums.get(name):
            out.append("enum %s: reference %s, ours %s" % (name, enums.get(name), ours_enums.get(name)))
    for name in sorted(set(msgs) | set(ours_msgs)):
        if name not in ours_msgs:
            out.append("message %s: missing" % name)
            continue
        if name not in msgs:
            out.append("message %s: not in the reference" % name)
            continue
        m = ours_msgs[name]
        want = {f["name"]: f for f in msgs[name]}
        for f in m.fields:
            w = want.pop(f.name, None)
            if w is None:
                out.append("%s.%s: not in the reference" % (name, f.name))
                continue
            got_label = "repeated" if f.label == f.LABEL_REPEATED and not type_name(f).startswith("map<") else ""
            oneof = f.containing_oneof.name if f.containing_oneof is not None else None
            if oneof == "_" + f.name and len(f.containing_oneof.fields) == 1:
                got_label, oneof = "optional", None
            for what, a, b in (("number", w["num"], f.number), ("type", w["type"], type_name(f)),
                               ("label", w["label"], got_label), ("json name", w["json"], f.json_name),
                               ("oneof", w["oneof"], oneof)):
                if a != b:
                    out.append("%s.%s: %s: reference %r, ours %r" % (name, f.name, what, a, b))
        for left in want:
            out.append("%s.%s: missing" % (name, left))
    svc = fd.services_by_name["SandboxService"]
    ours_rpcs = {m.name: m for m in svc.methods}
    for name in sorted(set(rpcs) | set(ours_rpcs)):
        if name not in ours_rpcs or name not in rpcs:
            out.append("rpc %s: only in %s" % (name, "ours" if name in ours_rpcs else "the reference"))
            continue
        r, m = rpcs[name], ours_rpcs[name]
        got = {"in": m.input_type.name, "out": m.output_type.name, "cs": m.client_streaming,
               "ss": m.server_streaming, "http": None}
        opts = m.GetOptions()
        if opts.HasExtension(schema.annotations.http):
            h = opts.Extensions[schema.annotations.http]
            verb = h.WhichOneof("pattern")
            got["http"] = (verb.upper(), getattr(h, verb), h.body)
        for k in r:
            if r[k] != got[k]:
                out.append("rpc %s: %s: reference %r, ours %r" % (name, k, r[k], got[k]))
    return out


def main(argv):
    ref = argv[1] if len(argv) > 1 else DEFAULT_REF
    if not os.path.exists(ref):
        print("SKIP: no reference schema at %s" % ref)
        return 77
    counts = {}
    diffs = parity(Schema(), ref, counts)
    for d in diffs:
        print(d)
    print("schema parity: %d differences (%s compared)" % (len(diffs), ", ".join(
        "%d %s" % (v, k) for k, v in counts.items())))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
