"""The tree's size at a glance: Python modules per folder, modules over 800 lines and functions
over 100 lines, measured with :mod:`ast` (a function's length is its ``end_lineno - lineno + 1``,
decorators and docstring included).

Run from the repository root (or name another checkout)::

    python -m tools.house_metrics [ROOT] [--file-lines 800] [--function-lines 100]

The 800-line threshold is ``tests/test_layout.py``'s module-size rule.
Hidden folders (``.venv``, ``.git``), ``docs/`` and ``build/`` are not counted.
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from pathlib import Path

SKIP = {"docs", "build", "dist", "runs", "__pycache__"}


def python_files(root: Path) -> list[Path]:
    """The ``*.py`` files under ``root``, sorted, leaving out hidden folders and :data:`SKIP`."""
    out = []
    for f in sorted(root.rglob("*.py")):
        parts = f.relative_to(root).parts[:-1]
        if any(p.startswith(".") or p in SKIP or p.endswith(".egg-info") for p in parts):
            continue
        out.append(f)
    return out


def long_functions(path: Path, limit: int) -> list[tuple[str, int]]:
    """``(qualified name, lines)`` of the functions and methods of ``path`` longer than ``limit``
    lines (nested functions are named ``outer.inner``)."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    n = child.end_lineno - child.lineno + 1
                    if n > limit:
                        found.append((name, n))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), "")
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the three tables for the checkout at ``ROOT`` (default: the current directory)."""
    ap = argparse.ArgumentParser(prog="python -m tools.house_metrics", description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=".", type=Path, help="the checkout to measure (default: .)")
    ap.add_argument("--file-lines", type=int, default=800, help="list modules longer than this")
    ap.add_argument("--function-lines", type=int, default=100, help="list functions longer than this")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    files = python_files(root)

    per_folder = Counter(str(f.parent.relative_to(root)) for f in files)
    print(f"modules per folder ({len(files)} modules in {len(per_folder)} folders)")
    for folder, n in sorted(per_folder.items()):
        print(f"  {n:4d}  {folder}/")

    lines = {f: len(f.read_text(encoding="utf-8").splitlines()) for f in files}
    big = sorted(((n, f) for f, n in lines.items() if n > args.file_lines), key=lambda t: (-t[0], str(t[1])))
    print(f"\nmodules over {args.file_lines} lines ({len(big)})")
    for n, f in big:
        print(f"  {n:5d}  {f.relative_to(root)}")

    funcs = [(n, f"{f.relative_to(root)}:{name}") for f in files
             for name, n in long_functions(f, args.function_lines)]
    funcs.sort(key=lambda t: (-t[0], t[1]))
    print(f"\nfunctions over {args.function_lines} lines ({len(funcs)})")
    for n, where in funcs:
        print(f"  {n:5d}  {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
