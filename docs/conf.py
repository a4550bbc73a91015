"""Sphinx configuration of the NeuroFER-Bench documentation (MyST markdown pages, an API reference
generated from the docstrings, the command line's help texts generated at build time).

Built offline: no intersphinx (no remote inventories), internal links only. ``make docs`` runs
``sphinx-build -W --keep-going -n``: every warning fails the build, and nitpicky mode makes an
unresolved cross-reference (a renamed module, function or page) a warning too. External names
(numpy, torch, ... types in signatures) cannot resolve without intersphinx, so
``nitpick_ignore_regex`` drops those, and only those.
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
exclude_patterns = ["_build", "**/.gitkeep"]
# MyST: ``:::`` fences, and anchors for headings so that ``page.md#section`` links resolve
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# -- API reference (autosummary over the four packages, recursive) ------------------------------
autosummary_generate = True
autosummary_imported_members = False
# ignore-module-all: document what each module defines (its own names, public or listed in
# __all__ or not), never the names it re-exports, so each object has one home in the reference
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections as :ivar: fields, not separate entries (which would duplicate the
# dataclass fields that autodoc documents itself)
napoleon_use_ivar = True
# Optional frameworks and services: mocked so that the build neither needs them nor spends time
# importing them (the modules that use them import them lazily or through a guarded helper).
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
nitpicky = False
# Names outside this project that no inventory resolves offline (intersphinx is off by design):
# the third-party types in signatures and docstrings, and the standard library's.
_EXTERNAL = (r"(np|numpy|torch|nn|pd|pandas|scipy|h5py|tonic|snntorch|nir|nirtorch|matplotlib|"
             r"argparse|collections|concurrent|dataclasses|datetime|enum|io|json|logging|"
             r"multiprocessing|os|pathlib|subprocess|threading|types|typing|typing_extensions|"
             r"tqdm|jinja2|PIL|tomllib|ot|_io)")
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL + r"(\..*)?"),
    # standard-library and third-party classes as autodoc writes them unqualified in signatures
    (r"py:class", r"(Path|PathLike|Tensor|Module|ndarray|DataFrame|Figure|Axes|Generator|"
                  r"Iterator|Iterable|Sequence|Mapping|Callable|Any|Namespace|Logger|"
                  r"ArgumentParser|_SubParsersAction|TextIO|BinaryIO|ModuleType|"
                  r"NDArray|DTypeLike|ArrayLike|Self|Event|Lock|Process|Queue|Popen)"),
    # mocked optional frameworks (autodoc_mock_imports)
    (r"py:.*", r"(lava|spikingjelly|norse|sinabs|ray|submitit|dlib|face_recognition_models|av|"
               r"codecarbon|neurobench|selenium|pynvml)(\..*)?"),
    # numpy-style type phrases in Google-style "Args:" sections ("int, optional", "array of ...")
    (r"py:class", r"(optional|array.*|shape.*|or|of)"),
]

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
    return {"parallel_read_safe": True}
