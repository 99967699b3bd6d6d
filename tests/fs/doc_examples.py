#!/usr/bin/env python3
"""Turns the shell examples of Markdown docs into one test script.

Rules (docs/filesystem.md says them too, in its opening comment):
- Every code block is fenced, with a language: ```sh, ```text or ```json.
  An indented code block (4+ spaces after a blank line) or a fence without
  a known language is an error, so no example escapes the test unseen.
- ```sh blocks run in document order in one /bin/sh session (an example
  may use what an earlier one made), under `set -e`; /mnt/sbx is the
  test's mount point and /run/sbxd/sbxd.sock its sbxd socket.
- ```sh file=NAME is a script: written to BINDIR/NAME (on PATH), not run.
- ```sh skip is shown only; it must say why in a `#` comment (e.g. it
  needs a managed service or an installed sbxfs). Keep these few.

Usage: doc_examples.py OUT_SCRIPT BINDIR MOUNTPOINT SOCKET DOC.md...
Prints "run N file N skip N" on success; errors go to stderr, exit 1.
"""
import os
import re
import sys

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
LANGS = {"sh", "text", "json"}


def blocks(path):
    """Yields (line_no, lang, attrs, lines) for each fenced block."""
    errors = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i, prev_blank = 0, True
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if not m:
            if prev_blank and re.match(r"^( {4,}|\t)\S", line):
                errors.append(f"{path}:{i + 1}: indented code block; fence it (```sh, ```text or ```json)")
            prev_blank = line.strip() == ""
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), m.group(3).strip()
        start = i + 1
        body = []
        i += 1
        while i < len(lines):
            close = lines[i].strip()
            if close.startswith(fence[0] * len(fence)) and set(close) == {fence[0]}:
                break
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        else:
            errors.append(f"{path}:{start}: fence never closed")
        words = info.split()
        lang = words[0] if words else ""
        if lang not in LANGS:
            errors.append(f"{path}:{start}: code block language '{lang}': use sh, text or json")
        yield start, lang, words[1:], body, errors
        i += 1
        prev_blank = True
    if errors:
        yield None, None, None, None, errors


def main():
    out, bindir, mnt, sock, docs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    errors, script = [], ["set -e"]
    n = {"run": 0, "file": 0, "skip": 0}
    for doc in docs:
        name = os.path.relpath(doc, os.path.join(os.path.dirname(__file__), "..", ".."))
        for start, lang, attrs, body, errs in blocks(doc):
            if start is None:
                errors.extend(e for e in errs if e not in errors)
                continue
            if lang != "sh":
                continue
            text = "\n".join(body).replace("/mnt/sbx", mnt).replace("/run/sbxd/sbxd.sock", sock)
            files = [a[5:] for a in attrs if a.startswith("file=")]
            if "skip" in attrs:
                if not any(l.lstrip().startswith("#") for l in body):
                    errors.append(f"{name}:{start}: a 'sh skip' block must say why in a # comment")
                n["skip"] += 1
            elif files:
                if not re.fullmatch(r"[A-Za-z0-9._-]+", files[0]):
                    errors.append(f"{name}:{start}: bad file name {files[0]!r}")
                    continue
                p = os.path.join(bindir, files[0])
                with open(p, "w", encoding="utf-8") as f:
                    f.write(text + "\n")
                os.chmod(p, 0o755)
                n["file"] += 1
            elif attrs:
                errors.append(f"{name}:{start}: unknown block marks {attrs}")
            else:
                script.append(f"printf '%s\\n' '### {name}:{start}' >&2")
                script.append(text)
                n["run"] += 1
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(script) + "\n")
    print(f"run {n['run']} file {n['file']} skip {n['skip']}")


main()
