#!/usr/bin/env python3
"""Keeps the shared crate's dependency direction: no import cycle, no import against the layers.

The layers, lowest first (README, "Code layout"):

    domain  <-  config  <-  rules  <-  ports  <-  app  <-  http / adapters / providers  <-  assembly

(`domain` with its leaf helpers `error`, `secret` and `tokens`; `config` with `drafting`, the
templates the config carries.)

A module may use its own top-level module and anything in a lower layer, never a higher one, and
never a peer of its own layer unless PEER_EDGES allows it. The function crates and the runner sit
above all of them. Every `use crate::...`, inline `crate::a::b` path and `super::` path outside
`#[cfg(test)]` items is read, resolved to the file that defines it, and checked; file-level cycles
are reported too, inside one module as well as across.

    python3 scripts/check-layers.py              # check shared/src
    python3 scripts/check-layers.py --self-test  # show that planted violations are caught
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

LAYERS: list[list[str]] = [
    ["domain", "error", "secret", "signing", "tokens"],
    ["config", "drafting"],
    ["rules"],
    ["ports"],
    ["app"],
    ["http", "adapters", "providers", "telemetry"],
    ["assembly"],
]

# Peer imports inside one layer that are part of the design, as (from, to).
PEER_EDGES: set[tuple[str, str]] = {
    # Review tokens and signed requests are MACs made with a secret.
    ("tokens", "secret"),
    ("signing", "secret"),
    # The config carries the founder's templates.
    ("config", "drafting"),
    # Webhook handlers and mailbox routes answer with http's response and error types.
    ("providers", "http"),
    ("adapters", "http"),
    # Adapters for provider APIs (CRM clients used by the runner's and functions' wiring).
    ("adapters", "providers"),
}

# Imports against the layers that are known and scheduled to go: each is named with what removes
# it. They are printed on every run and kept out of the cycle search; a new one still fails.
KNOWN: dict[tuple[str, str], str] = {}

# Not modules of their own: the crate root.
ROOT_FILES = {"lib.rs"}


def layer_of(module: str) -> int | None:
    for i, names in enumerate(LAYERS):
        if module in names:
            return i
    return None


def module_path(src: Path, file: Path) -> list[str]:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def strip_tests(text: str) -> str:
    """Blanks every item under `#[cfg(test)]` (a test module or a test-only function)."""
    out = []
    i = 0
    lines = text.split("\n")
    while i < len(lines):
        line = lines[i]
        if re.match(r"\s*#\[cfg\((all\()?test", line):
            # Skip the attribute and the item after it: to the end of its braces, or its `;`.
            depth = 0
            opened = False
            j = i + 1
            while j < len(lines):
                code = re.sub(r"//.*", "", lines[j])
                code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
                depth += code.count("{") - code.count("}")
                if "{" in code:
                    opened = True
                if (opened and depth <= 0) or (not opened and code.rstrip().endswith(";")):
                    break
                j += 1
            out.extend([""] * (j - i + 1))
            i = j + 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*", "", l) for l in text.split("\n"))


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        for e in expand_use(p):
            out.append(prefix + e if e != "self" else prefix.rstrip(":"))
    return out


def paths_in(text: str) -> list[tuple[int, str]]:
    """Every crate-relative or super-relative path the code names, with its line."""
    found: list[tuple[int, str]] = []
    for m in re.finditer(r"\b(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", text):
        line = text.count("\n", 0, m.start()) + 1
        for p in expand_use(m.group(1)):
            p = re.sub(r"\bas\b.*$", "", p)
            if p.startswith(("crate::", "super::", "self::")):
                found.append((line, p))
    for m in re.finditer(r"(?<![\w:])((?:crate|super)(?:::\w+)+)", text):
        line = text.count("\n", 0, m.start()) + 1
        found.append((line, m.group(1)))
    return found


def resolve(src: Path, here: list[str], path: str, is_mod_file: bool) -> list[str] | None:
    segs = path.split("::")
    if segs[0] == "crate":
        base: list[str] = []
        segs = segs[1:]
    else:
        # `self` is the module the file defines (mod.rs or not); each `super` is one level up.
        base = list(here)
        if segs[0] == "self":
            segs = segs[1:]
        while segs and segs[0] == "super":
            if not base:
                return None
            base = base[:-1]
            segs = segs[1:]
    # The longest prefix that is a file.
    best = None
    for n in range(len(segs), -1, -1):
        cand = base + segs[:n]
        if not cand:
            continue
        p = src.joinpath(*cand)
        if p.with_suffix(".rs").is_file() or (p / "mod.rs").is_file():
            best = cand
            break
    return best


def file_of(src: Path, module: list[str]) -> Path:
    p = src.joinpath(*module)
    return p.with_suffix(".rs") if p.with_suffix(".rs").is_file() else p / "mod.rs"


def check(src: Path, known: dict[tuple[str, str], str] | None = None) -> list[str]:
    known = KNOWN if known is None else known
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    for file in sorted(src.rglob("*.rs")):
        rel = str(file.relative_to(src))
        if rel in ROOT_FILES:
            continue
        here = module_path(src, file)
        is_mod_file = file.name == "mod.rs"
        top = here[0]
        top_layer = layer_of(top)
        if top_layer is None:
            problems.append(f"{rel}: module `{top}` has no layer (add it to LAYERS)")
            continue
        text = strip_comments(strip_tests(file.read_text()))
        for line, path in paths_in(text):
            target = resolve(src, here, path, is_mod_file)
            if target is None:
                continue
            if (rel, path) in known:
                print(f"known: {rel}:{line}: `{path}` (goes when {known[(rel, path)]})")
                continue
            tfile = str(file_of(src, target).relative_to(src))
            if tfile != rel:
                graph.setdefault(rel, set()).add(tfile)
            other = target[0]
            if other == top:
                continue
            other_layer = layer_of(other)
            if other_layer is None:
                problems.append(f"{rel}:{line}: `{path}`: module `{other}` has no layer")
            elif other_layer > top_layer:
                problems.append(
                    f"{rel}:{line}: `{path}`: {top} (layer {top_layer + 1}) imports "
                    f"{other} (layer {other_layer + 1}), which is above it"
                )
            elif other_layer == top_layer and (top, other) not in PEER_EDGES:
                problems.append(
                    f"{rel}:{line}: `{path}`: {top} imports its peer {other} "
                    f"(not an allowed peer edge)"
                )
    problems = list(dict.fromkeys(problems))
    problems.extend(cycles(graph))
    return problems


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """Tarjan's strongly connected components: every component of two or more files is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[str] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comp.sort()
                ties = [f"{a} -> {b}" for a in comp for b in sorted(graph.get(a, ())) if b in comp]
                out.append(f"import cycle of {len(comp)} files: " + "; ".join(ties))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def self_test() -> None:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d)
        (src / "domain").mkdir()
        (src / "domain" / "mod.rs").write_text("pub mod deal;\n")
        (src / "domain" / "deal.rs").write_text("pub struct Deal;\n")
        (src / "rules").mkdir()
        (src / "rules" / "mod.rs").write_text(
            "use crate::domain::deal::Deal;\nuse super::error::Cause;\n"
        )
        (src / "error.rs").write_text("pub type Cause = ();\n")
        (src / "app").mkdir()
        (src / "app" / "mod.rs").write_text("pub mod a;\npub mod b;\n")
        (src / "app" / "a.rs").write_text("use super::b::B;\npub struct A;\n")
        (src / "app" / "b.rs").write_text(
            "pub struct B;\n#[cfg(test)]\nmod tests {\n    use crate::http::X;\n}\n"
        )
        (src / "http.rs").write_text("pub struct X;\n")
        assert check(src, {}) == [], check(src, {})

        # A planted import against the layers: the domain reaching up into rules.
        (src / "domain" / "deal.rs").write_text("use crate::rules::{self, Window};\npub struct Deal;\n")
        found = check(src, {})
        assert any("domain/deal.rs:1" in p and "imports rules" in p for p in found), found
        (src / "domain" / "deal.rs").write_text("pub struct Deal;\n")

        # An inline path reaching up, inside a function.
        (src / "rules" / "mod.rs").write_text("fn f() { let _ = crate::app::a::A; }\n")
        found = check(src, {})
        assert any("rules/mod.rs:1" in p and "imports app" in p for p in found), found
        (src / "rules" / "mod.rs").write_text("")

        # A cycle inside one module.
        (src / "app" / "b.rs").write_text("use super::a::A;\npub struct B;\n")
        found = check(src, {})
        assert any("import cycle of 2 files" in p for p in found), found
        (src / "app" / "b.rs").write_text("pub struct B;\n")

        # A peer import that is not declared.
        (src / "http.rs").write_text("use crate::providers::P;\n")
        (src / "providers.rs").write_text("pub struct P;\n")
        found = check(src, {})
        assert any("http imports its peer providers" in p for p in found), found
        (src / "http.rs").write_text("")

        # A module with no layer.
        (src / "misc.rs").write_text("")
        found = check(src, {})
        assert any("module `misc` has no layer" in p for p in found), found
    print("check-layers self-test: 5 planted violations caught, a clean tree passes")


def main() -> int:
    if "--self-test" in sys.argv:
        self_test()
        return 0
    root = Path(__file__).resolve().parent.parent
    src = root / "shared" / "src"
    problems = check(src)
    files = sum(1 for _ in src.rglob("*.rs"))
    if problems:
        for p in problems:
            print(p)
        print(f"check-layers: {len(problems)} problem(s) in {files} files")
        return 1
    print(f"check-layers: {files} files, no import against the layers, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
