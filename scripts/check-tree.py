#!/usr/bin/env python3
"""Fail when a file of the repository refers to a path outside the repository.

draftgate must build and test from a fresh clone with nothing beside it, so no source, script,
config or document may read (or tell a reader to read) `../something` that leaves the tree, or an
absolute path into the folder that holds the clone.

Every relative path (`../x`, `a/../../b`) in a tracked or new (not ignored) text file is resolved
against the file's own folder, its crate's folder (nearest `Cargo.toml`) and the repository root;
it passes when any of those keeps it inside the repository.

    python3 scripts/check-tree.py            # check the repository; exit 1 naming each violation
    python3 scripts/check-tree.py --self-test
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# `../` runs not preceded by a word character or a dot, with what follows them.
RELATIVE = re.compile(r"(?<![\w.])((?:\.\./)+)([\w.$\-]+(?:/[\w.$\-]+)*)?")
SKIP_SUFFIXES = {".png", ".jpg", ".zip", ".gz", ".lock", ".sqlite3"}


def files(root: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, check=True, capture_output=True,
    ).stdout.decode()
    return [root / p for p in out.split("\0") if p]


def crate_dir(root: Path, path: Path) -> Path:
    d = path.parent
    while d != root and root in d.parents:
        if (d / "Cargo.toml").exists():
            return d
        d = d.parent
    return root


def inside(root: Path, base: Path, rel: str) -> bool:
    resolved = Path(os.path.normpath(base / rel))
    return resolved == root or root in resolved.parents


def violations(root: Path, self_path: Path | None = None) -> list[str]:
    root = root.resolve()
    outside_prefix = str(root.parent).rstrip("/") + "/"
    found = []
    for path in files(root):
        if path.suffix in SKIP_SUFFIXES or path == self_path or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        rel_name = path.relative_to(root)
        bases = {path.parent, crate_dir(root, path), root}
        for n, line in enumerate(text.splitlines(), 1):
            for m in RELATIVE.finditer(line):
                target = m.group(1) + (m.group(2) or "")
                if not any(inside(root, b, target) for b in bases):
                    found.append(f"{rel_name}:{n}: `{target}` leaves the repository")
            # An absolute path into the folder that holds the clone (its siblings).
            for m in re.finditer(re.escape(outside_prefix) + r"[\w.\-/]*", line):
                if not m.group(0).startswith(str(root)):
                    found.append(f"{rel_name}:{n}: `{m.group(0)}` is outside the repository")
    return found


def self_test() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        (repo / "crate/src/deep").mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (repo / "crate/Cargo.toml").write_text("[package]\n")
        (repo / "config.toml").write_text("x = 1\n")
        ok = repo / "crate/src/deep/ok.rs"
        ok.write_text('include_bytes!("../../../config.toml");\n'
                      'concat!(env!("CARGO_MANIFEST_DIR"), "/../config.toml");\n')
        assert violations(repo) == [], violations(repo)
        (repo / "README.md").write_text("see ../elsewhere/reference/notes.md\n")
        bad = repo / "crate/src/deep/bad.rs"
        bad.write_text('include_bytes!("../../../../elsewhere/x.json");\n')
        (repo / "run.sh").write_text(f"cat {Path(tmp)}/elsewhere/x\n")
        found = violations(repo)
        assert len(found) == 3, found
        assert found[0].startswith("README.md:1: `../elsewhere/reference/notes.md`"), found
    print("check-tree self-test: ok")


def main() -> int:
    if "--self-test" in sys.argv[1:]:
        self_test()
        return 0
    root = Path(__file__).resolve().parent.parent
    found = violations(root, Path(__file__).resolve())
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} reference(s) to paths outside the repository; copy what is needed "
              "into the repository (e.g. tests/fixtures/) instead")
        return 1
    print("check-tree: nothing refers outside the repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
