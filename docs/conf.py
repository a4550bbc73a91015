"""Sphinx configuration of the NeuroFER-Bench documentation (MyST markdown pages, an API reference
generated from the docstrings, the command line's help texts generated at build time).

Built offline: no intersphinx (no remote inventories), internal links only. ``make docs`` runs
``sphinx-build -W --keep-going``: every warning fails the build. Nitpicky mode (set here) makes a
cross-reference to a name of this project's packages that resolves to nothing a warning too;
third-party names cannot resolve offline and are let through (see ``nitpicky`` below).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the repository's packages and run_bench.py, not an installed copy

with open(ROOT / "pyproject.toml", "rb") as f:
    _PROJECT = tomllib.load(f)["project"]

project = "NeuroFER-Bench"
author = "NeuroFER-Bench contributors"
copyright = "NeuroFER-Bench contributors, Apache-2.0"  # noqa: A001 (Sphinx's name)
release = _PROJECT["version"]
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
]
# .rst first: autosummary writes its generated pages with the first suffix
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
# MyST: ``:::`` fences, and anchors for headings so that ``page.md#section`` links resolve
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# -- API reference (autosummary over the four packages, recursive) ------------------------------
autosummary_generate = True
autosummary_imported_members = False
# ignore-module-all: document what each module defines (its own names, public or listed in
# __all__ or not), never the names it re-exports, so each object has one home in the reference
# undoc-members: every public name, documented or not, so that references to it resolve
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True,
                           "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections as :ivar: fields, not separate entries (which would duplicate the
# dataclass fields that autodoc documents itself)
napoleon_use_ivar = True
# Optional frameworks and services: mocked, so that the build needs none of them installed and
# spends no time importing them.
autodoc_mock_imports = [
    "lava",
    "spikingjelly",
    "norse",
    "sinabs",
    "ray",
    "submitit",
    "dlib",
    "face_recognition_models",
    "av",
    "codecarbon",
    "neurobench",
    "selenium",
    "pynvml",
]

# -- Warnings -----------------------------------------------------------------------------------
# Nitpicky, for the references this project can check offline: a cross-reference to a name
# qualified by one of its packages (``:class:`benchmarks.results.spec.Recipe```, ``:mod:`reports.stats```)
# that resolves to nothing is an error (a module that moved, a function renamed). References to
# third-party and standard-library names cannot resolve without intersphinx (off: no network),
# and napoleon turns free text in "Args:"/"Returns:" types into unqualified references; those are
# let through by _skip_unchecked_reference below, not listed one by one.
nitpicky = True
CHECKED_PREFIXES = ("datasets.", "backends.", "benchmarks.", "reports.", "run_bench.")
# (patterns match the whole target)
nitpick_ignore_regex = [
    # private names (``_HeavisideSpike``, a base class that show-inheritance names): not documented
    (r"py:.*", r"(datasets|backends|benchmarks|reports)(\.\w+)*\._\w+"),
    # type variables (``datasets.common.T``: one capital letter) in generic signatures
    (r"py:.*", r"(datasets|backends|benchmarks|reports)(\.\w+)*\.[A-Z]"),
]


def _skip_unchecked_reference(app, domain, node) -> bool | None:
    """``warn-missing-reference`` handler: True (no warning) for a Python reference whose target
    is not qualified by one of :data:`CHECKED_PREFIXES`; None (warn) otherwise."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    return None if target.startswith(CHECKED_PREFIXES) else True


# -- HTML ---------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"NeuroFER-Bench {release}"
html_static_path: list[str] = []
html_show_sourcelink = False


# -- Generated content --------------------------------------------------------------------------
CLI_MARKER = "% run_bench-help"
"""A line of ``cli.md`` that the build replaces with every subcommand's ``--help`` text."""
OPTIONAL_TOCTREE = re.compile(r"^% toctree-if-exists: (\S+)$", re.MULTILINE)
"""``% toctree-if-exists: guides/page`` (a MyST comment): replaced with a toctree holding that
page when ``docs/guides/page.md`` exists, else dropped (a page another change may add)."""


def _help_texts() -> str:
    """Markdown: ``run_bench.py --help`` and the ``--help`` of each subcommand, as argparse
    prints them (80 columns), one section per subcommand."""
    os.environ["COLUMNS"] = "80"  # argparse wraps to the terminal width: fix it
    import run_bench

    parser = run_bench.build_parser()
    blocks = ["## `run_bench.py`", "", "```text", parser.format_help().rstrip(), "```", ""]
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in sorted(subs.choices.items()):
        blocks += [f"## `{name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(blocks)


def _source_read(app, docname: str, source: list[str]) -> None:
    text = source[0]
    if CLI_MARKER in text:
        text = text.replace(CLI_MARKER, _help_texts())

    def toctree(m: re.Match[str]) -> str:
        page = m.group(1)
        if not (DOCS / f"{page}.md").exists():
            return ""
        return f"```{{toctree}}\n:maxdepth: 1\n\n/{page}\n```"

    source[0] = OPTIONAL_TOCTREE.sub(toctree, text)


def setup(app):
    app.connect("source-read", _source_read)
    app.connect("warn-missing-reference", _skip_unchecked_reference)
    return {"parallel_read_safe": True}
