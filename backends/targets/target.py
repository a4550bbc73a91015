"""Neuromorphic chip targets as declarative data: one TOML file per chip, every value with its source.

A target file (``backends/targets/<name>.toml``) has the keys ``name`` (equal to the file's stem),
``title`` and ``family`` (``"dynapcnn"`` or ``"loihi2"``: which fit rules apply, see
:mod:`backends.targets.fit`), and sections ``precision``, ``neuron``, ``limits`` and optionally
``energy`` and ``latency``, whose every field is a table ``{value = ..., source = "..."}``: the
value (a number, a list of numbers or a string) and the document, table or page, or the
toolchain's source file and function, it comes from. A value without a non-empty source is
refused: a number nobody can check is not data. A limit that a target does not give is absent,
and a fit that needs it says "unknown" (:mod:`backends.targets.fit`).

Targets register by name in :data:`TARGETS` (the project's :class:`datasets.common.Registry`);
third-party packages add theirs through the ``neurofer_bench.targets`` entry-point group, e.g.
with :func:`register_target_file`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets.common import InputError, Registry

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

#: The sections of a target file whose fields are sourced values.
SECTIONS = ("precision", "neuron", "limits", "energy", "latency")
#: Fit rules known to :mod:`backends.targets.fit`.
FAMILIES = ("dynapcnn", "loihi2")
#: Fields every target of a family must give (``section.field``).
REQUIRED = {
    "dynapcnn": ("precision.weight_bits", "precision.state_bits", "neuron.model",
                 "limits.cores", "limits.kernel_memory", "limits.neuron_memory",
                 "limits.bias_memory", "limits.input_channels"),
    "loihi2": ("precision.weight_bits", "precision.weight_scale", "precision.decay_bits",
               "precision.threshold_bits", "precision.state_bits", "neuron.model"),
}
HERE = Path(__file__).resolve().parent


class TargetFileError(InputError, ValueError):
    """A target file is malformed: a missing or unsourced value, an unknown section or family.
    The message names the file, the field and the value at fault."""


@dataclass(frozen=True)
class Sourced:
    """A value and where it comes from.

    Attributes:
        value: a number, a list of numbers or a string, as in the target file.
        source: the document (and table or page) or the toolchain's source file and function.
    """

    value: Any
    source: str


@dataclass(frozen=True)
class Target:
    """A chip target (see the module docstring for the file format).

    Attributes:
        name: registry name (the file's stem).
        title: a human-readable name.
        family: ``"dynapcnn"`` or ``"loihi2"``.
        fields: ``"section.field" -> Sourced`` for every sourced value of the file.
        path: the file it was read from.
    """

    name: str
    title: str
    family: str
    fields: dict[str, Sourced]
    path: Path

    def get(self, key: str) -> Sourced | None:
        """The sourced value of ``key`` (``"limits.cores"``), or None when the target gives none."""
        return self.fields.get(key)

    def value(self, key: str) -> Any:
        """The value of ``key``, or None when the target gives none (an unknown limit)."""
        f = self.fields.get(key)
        return None if f is None else f.value


def _check_value(path: Path, key: str, value: Any) -> None:
    ok = isinstance(value, (int, float, str)) and not isinstance(value, bool)
    if isinstance(value, list):
        ok = bool(value) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                 for v in value)
    if not ok or (isinstance(value, str) and not value.strip()):
        raise TargetFileError(f"{path}: field {key!r}: value {value!r} is not a number, a "
                              "non-empty list of numbers or a non-empty string")


def load_target(path: str | Path) -> Target:
    """Read and validate a target file.

    Raises:
        TargetFileError: the file is not valid TOML; ``name``, ``title`` or ``family`` is missing
            or wrong (``name`` must equal the file's stem, ``family`` one of :data:`FAMILIES`);
            a section is unknown; a field is not a ``{value, source}`` table, has an empty
            source or a value of the wrong type; a field its family requires
            (:data:`REQUIRED`) is missing. One line, naming the file, the field and the value.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetFileError(f"{path}: cannot read target file: {exc}") from None
    for key in ("name", "title", "family"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise TargetFileError(f"{path}: field {key!r}: missing or empty ({data.get(key)!r})")
    if data["name"] != path.stem:
        raise TargetFileError(f"{path}: field 'name': {data['name']!r} differs from the file "
                              f"name {path.stem!r}")
    if data["family"] not in FAMILIES:
        raise TargetFileError(f"{path}: field 'family': {data['family']!r} is not one of "
                              f"{', '.join(FAMILIES)}")
    fields: dict[str, Sourced] = {}
    for section, body in data.items():
        if section in ("name", "title", "family"):
            continue
        if section not in SECTIONS or not isinstance(body, dict):
            raise TargetFileError(f"{path}: section {section!r} is not one of "
                                  f"{', '.join(SECTIONS)}")
        for field, entry in body.items():
            key = f"{section}.{field}"
            if not isinstance(entry, dict) or set(entry) != {"value", "source"}:
                raise TargetFileError(f"{path}: field {key!r}: {entry!r} is not a table with "
                                      "exactly 'value' and 'source'")
            source = entry["source"]
            if not isinstance(source, str) or not source.strip():
                raise TargetFileError(f"{path}: field {key!r}: value {entry['value']!r} has no "
                                      f"source ({source!r})")
            _check_value(path, key, entry["value"])
            fields[key] = Sourced(entry["value"], source.strip())
    for key in REQUIRED[data["family"]]:
        if key not in fields:
            raise TargetFileError(f"{path}: field {key!r}: missing (required for family "
                                  f"{data['family']!r})")
    return Target(data["name"], data["title"], data["family"], fields, path)


TARGETS: Registry[Callable[[], Target]] = Registry(
    "target", entry_point_group="neurofer_bench.targets")
"""Registry: target name -> zero-argument loader of its :class:`Target`. The built-in files
(``backends/targets/*.toml``) register below; a file is read and validated on lookup."""


def register_target_file(path: str | Path) -> None:
    """Register the target file ``path`` under its stem (read and validated on lookup).

    Raises:
        ValueError: a target of that name is already registered.
    """
    path = Path(path)
    TARGETS.register(path.stem, lambda: load_target(path))


def target_names(pattern: str = "*") -> list[str]:
    """Registered target names matching the shell-style wildcard ``pattern``, sorted."""
    return sorted(TARGETS.names(pattern))


def get_target(name: str) -> Target:
    """The target registered as ``name``.

    Raises:
        UnknownNameError: unknown name (lists known names and close matches).
        TargetFileError: its file is malformed (see :func:`load_target`).
    """
    return TARGETS.get(name)()


for _file in sorted(HERE.glob("*.toml")):
    register_target_file(_file)
