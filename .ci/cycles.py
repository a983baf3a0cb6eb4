#!/usr/bin/env python3
"""Fails when the library's modules use each other in a circle.

Two modules that import each other are one module in disguise, or a third
one missing (shared/STYLE.md). Checked here, as text:
- the top-level modules under src/ (the command line, main.rs and lib.rs
  aside), through the `crate::x` paths of their code (comments left out);
- the files of each folder named on the command line (src/count and
  src/date by default), through the items each file takes from the
  others (`super::item`, `super::file::item`; an item re-exported by the
  folder's mod.rs counts as the file's that defines it).
"""
import os
import re
import sys


def code(path):
    """A file's text without comments or its inline `mod tests`."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*", "", line) for line in text.split("\n"))


def circles(graph):
    """The strongly connected parts of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def modules(root="src"):
    graph = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            top = os.path.relpath(path, root).split(os.sep)[0]
            top = top[:-3] if top.endswith(".rs") else top
            if top in ("cli", "main", "lib"):
                continue
            used = set(re.findall(r"crate::([a-z_0-9]+)", code(path)))
            graph.setdefault(top, set()).update(used - {top})
    return graph


def files(folder):
    texts = {
        name[:-3]: code(os.path.join(folder, name))
        for name in os.listdir(folder)
        if name.endswith(".rs") and name != "tests.rs"
    }
    item = r"^\s*(?:pub(?:\([a-z]+\))? )?(?:const|static|fn|struct|enum|type|trait)\s+(\w+)"
    defined = {}
    for name, text in texts.items():
        if name != "mod":
            for found in re.findall(item, text, flags=re.M):
                defined.setdefault(found, name)
    me = os.path.basename(folder)
    graph = {name: set() for name in texts if name != "mod"}
    for name, text in texts.items():
        if name == "mod":
            continue
        prefix = r"(?:super|crate::%s)" % me
        used = re.findall(prefix + r"::(\w+)::", text)
        for group in re.findall(prefix + r"::\{([^}]*)\}", text):
            used += re.findall(r"\w+", group)
        used += re.findall(prefix + r"::(\w+)\b(?!::)", text)
        for word in used:
            other = word if word in texts else defined.get(word)
            if other and other not in (name, "mod"):
                graph[name].add(other)
    return graph


def main():
    failed = False
    for part in circles(modules()):
        print("modules in a circle:", ", ".join(part))
        failed = True
    for folder in sys.argv[1:] or ["src/count", "src/date"]:
        for part in circles(files(folder)):
            print(f"files of {folder} in a circle:", ", ".join(part))
            failed = True
    if failed:
        sys.exit(1)
    print("no module cycles")


if __name__ == "__main__":
    main()
