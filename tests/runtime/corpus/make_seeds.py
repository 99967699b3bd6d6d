# Writes the seed corpus of fuzz_runtime_proto (the init request decoder):
# valid, edge and malformed spawn requests in the srv_msg_hdr layout of
# server/runtime/proto.h. Usage: python3 make_seeds.py DIR
import struct, os, sys
d = sys.argv[1]
def msg(argv, env=None, cwd=b"", flags=0, token=1, typ=1, argc=None, envc=None, extra=b"", lenfix=None):
    body = cwd + b"\0" + b"".join(a + b"\0" for a in argv) + (b"".join(e + b"\0" for e in env) if env else b"")
    if env is None: flags |= 8
    body += extra
    h = struct.pack("<IIqiIIIII", typ, flags, token, 0, len(argv) if argc is None else argc,
                    (len(env) if env else 0) if envc is None else envc, len(body) if lenfix is None else lenfix, 3, 0)
    return h + body
seeds = {
 "true": msg([b"true"]),
 "sh_c": msg([b"/bin/sh", b"-c", b"echo hi"], [b"A=1", b"PATH=/bin"], b"/tmp", flags=3),
 "stdin": msg([b"cat"], [], b"/", flags=7),
 "empty_arg": msg([b"echo", b""], None),
 "empty_cwd_env": msg([b"x"], [b""]),
 "argc0": msg([], None),
 "argc_big": msg([b"a"], None, argc=5000),
 "envc_big": msg([b"a"], [b"B=2"], envc=0xffffffff),
 "missing_nul": msg([b"a"], None)[:-1],
 "trailing": msg([b"a"], None, extra=b"zz"),
 "len_lie": msg([b"a"], None, lenfix=1000),
 "bad_flags": msg([b"a"], None, flags=0x100),
 "defenv_with_env": msg([b"a"], [b"X=1"], flags=8),
 "signal_type": msg([b"a"], None, typ=2),
 "short": b"\x01\x00\x00",
 "empty": b"",
 "neg_token": msg([b"a"], None, token=-5),
 "many_args": msg([b"a"] * 300, [b"K=V"] * 50),
 "long_arg": msg([b"x" * 5000]),
 "utf8": msg([b"\xc3\xa9cho", b"\xff\xfe"], [b"L=\xe2\x82\xac"]),
}
for k, v in seeds.items():
    open(os.path.join(d, k), "wb").write(v)
