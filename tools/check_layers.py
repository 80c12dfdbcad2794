#!/usr/bin/env python3
"""The layer graph of keytrail's folders, and a check of every #include against it.

A file may include headers of its own layer and of the layers listed for it below,
nothing else. The compiler enforces the same between targets (each target's include
path holds only its own folder and the folders of what it links: see keytrail_module in
the top-level CMakeLists.txt); this check also covers layers that share a folder
(engine/domain below the rest of engine/) and headers nobody compiles yet.

    tools/check_layers.py             check the tree; exit 1 and list every violation
    tools/check_layers.py --self-test check that a violation is caught
"""
import pathlib
import re
import sys

# layer -> the layers it may include (besides itself). Bottom to top.
LAYERS = {
    "base": [],
    "keys": ["base"],
    "model": ["base", "keys"],
    "schemas": [],
    "events": ["base", "schemas"],
    "engine/domain": ["base", "keys", "schemas", "events"],
    "projections": ["base", "keys", "model", "schemas", "events"],
    "engine": ["base", "keys", "model", "schemas", "events", "engine/domain", "projections"],
    "server": ["base", "keys", "model", "schemas", "events", "engine/domain", "engine"],
}
# The top: they may include anything.
TOP = ["tools", "tests"]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def layer_of(path):
    """The layer a source path (or an include path) belongs to, or None."""
    best = None
    for layer in list(LAYERS) + TOP:
        if path == layer or path.startswith(layer + "/"):
            if best is None or len(layer) > len(best):
                best = layer
    return best


def violations(files):
    """files: {relative path: text}. Yields 'file: includes "x" (layer a may not include b)'."""
    for path, text in sorted(files.items()):
        own = layer_of(path)
        if own is None or own in TOP:
            continue
        for included in INCLUDE.findall(text):
            target = layer_of(included)
            if target is None or target == own or target in LAYERS[own]:
                continue
            yield f'{path}: includes "{included}" ({own}/ may not include {target}/)'


def tree_files(root):
    files = {}
    for layer in LAYERS:
        folder = root / layer
        if not folder.is_dir():
            continue
        for f in folder.rglob("*"):
            if f.suffix in (".h", ".cc"):
                files[f.relative_to(root).as_posix()] = f.read_text(errors="replace")
    return files


def self_test():
    bad = {
        "server/x.cc": '#include "projections/key_view.h"\n#include "engine/engine.h"\n',
        "engine/domain/y.h": '#include "engine/writer.h"\n',
        "base/z.h": '#include "base/status.h"\n',
    }
    found = list(violations(bad))
    expected = 2
    if len(found) != expected:
        print(f"self-test: expected {expected} violations, found {len(found)}: {found}")
        return 1
    print("self-test: ok (" + "; ".join(found) + ")")
    return 0


def main():
    if "--self-test" in sys.argv[1:]:
        return self_test()
    root = pathlib.Path(__file__).resolve().parent.parent
    found = list(violations(tree_files(root)))
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} include(s) break the layering; see tools/check_layers.py")
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
