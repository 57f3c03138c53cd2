#!/usr/bin/env python3
"""Sizes a newcomer can hold: no port trait over 8 methods, no function over 120 lines, no source
file over 900 lines, no Lambda function `main.rs` over 60 lines. Test code (`#[cfg(test)]`
modules, `tests/`, benches) is not counted.

    python3 scripts/check-sizes.py              # report and fail on anything over
    python3 scripts/check-sizes.py --report     # report only (exit 0)
    python3 scripts/check-sizes.py --self-test  # show that planted oversizes are caught
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

MAX_TRAIT_METHODS = 8
MAX_FN_LINES = 120
MAX_FILE_LINES = 900
MAX_MAIN_LINES = 60


def code_lines(text: str) -> list[str]:
    """The file's lines up to its test module (tests sit at the end, by convention here)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#[cfg(test)]") and i + 1 < len(lines) and lines[i + 1].startswith("mod "):
            return lines[:i]
    return lines


def blocks(lines: list[str], head: re.Pattern[str]) -> list[tuple[str, int, int]]:
    """(name, first line, line count) of every item whose first line matches `head`, to its
    closing brace (strings and comments are blanked before braces are counted)."""
    out = []
    for i, line in enumerate(lines):
        m = head.match(line)
        if not m:
            continue
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = re.sub(r"//.*", "", lines[j])
            code = re.sub(r"'(\\.|[^'\\])'", "''", code)
            code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                out.append((m.group("name"), i + 1, j - i + 1))
                break
            if not opened and code.rstrip().endswith(";"):
                break
    return out


FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(?P<name>\w+)")
TRAIT = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?trait\s+(?P<name>\w+)")


def check(root: Path) -> list[str]:
    problems = []
    src = root / "shared" / "src"
    files = sorted(src.rglob("*.rs")) + sorted((root / "functions").glob("*/src/*.rs"))
    files += sorted((root / "runner" / "src").rglob("*.rs"))
    for f in files:
        rel = f.relative_to(root)
        lines = code_lines(f.read_text())
        if len(lines) > MAX_FILE_LINES:
            problems.append(f"{rel}: {len(lines)} lines (at most {MAX_FILE_LINES})")
        for name, at, n in blocks(lines, FN):
            if n > MAX_FN_LINES:
                problems.append(f"{rel}:{at}: fn {name} is {n} lines (at most {MAX_FN_LINES})")
        if "ports" in f.parts:
            for name, at, n in blocks(lines, TRAIT):
                body = "\n".join(lines[at - 1 : at - 1 + n])
                methods = len(re.findall(r"^\s*(async\s+)?fn\s+\w+", body, re.M))
                if methods > MAX_TRAIT_METHODS:
                    problems.append(
                        f"{rel}:{at}: trait {name} has {methods} methods (at most {MAX_TRAIT_METHODS})"
                    )
        if f.name == "main.rs" and "functions" in f.parts and len(lines) > MAX_MAIN_LINES:
            problems.append(f"{rel}: {len(lines)} lines (a function's main.rs: at most {MAX_MAIN_LINES})")
    return problems


def self_test() -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "shared" / "src" / "ports").mkdir(parents=True)
        (root / "functions" / "f" / "src").mkdir(parents=True)
        (root / "runner" / "src").mkdir(parents=True)
        small = "pub fn a() {\n    let x = \"}\";\n}\n"
        (root / "shared" / "src" / "lib.rs").write_text(small)
        (root / "functions" / "f" / "src" / "main.rs").write_text("fn main() {}\n")
        assert check(root) == [], check(root)
        long_fn = "fn long() {\n" + "    let _ = 1;\n" * 130 + "}\n"
        (root / "shared" / "src" / "lib.rs").write_text(long_fn)
        assert any("fn long is 132 lines" in p for p in check(root)), check(root)
        (root / "shared" / "src" / "lib.rs").write_text("// x\n" * 901)
        assert any("901 lines" in p for p in check(root)), check(root)
        trait = "pub trait Big {\n" + "".join(f"    fn m{i}(&self);\n" for i in range(9)) + "}\n"
        (root / "shared" / "src" / "lib.rs").write_text(small)
        (root / "shared" / "src" / "ports" / "mod.rs").write_text(trait)
        assert any("trait Big has 9 methods" in p for p in check(root)), check(root)
        (root / "shared" / "src" / "ports" / "mod.rs").write_text("")
        (root / "functions" / "f" / "src" / "main.rs").write_text("// x\n" * 61)
        assert any("main.rs: 61 lines" in p for p in check(root)), check(root)
        # Test modules do not count.
        (root / "functions" / "f" / "src" / "main.rs").write_text(
            "fn main() {}\n#[cfg(test)]\nmod tests {\n" + "// x\n" * 100 + "}\n"
        )
        assert check(root) == [], check(root)
    print("check-sizes self-test: 4 planted oversizes caught, test modules not counted")


def main() -> int:
    if "--self-test" in sys.argv:
        self_test()
        return 0
    root = Path(__file__).resolve().parent.parent
    problems = check(root)
    for p in problems:
        print(p)
    print(f"check-sizes: {len(problems)} over the limits")
    return 0 if not problems or "--report" in sys.argv else 1


if __name__ == "__main__":
    sys.exit(main())
