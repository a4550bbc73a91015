"""Helpers every layer of the suite shares: atomic file writes and the generic name registry.

They live in the lowest layer (``datasets``) so that backends, benchmarks and reports can use them
without any module importing "upward" against the data flow (datasets -> backends -> benchmarks ->
records -> reports).

* :func:`atomic_write` / :func:`atomic_write_text` / :func:`atomic_write_bytes`: write to a
  temporary file in the target's folder, ``fsync`` it, then ``os.replace`` it onto the target, so
  a reader sees the old file or the new one, never half of one (POSIX ``rename`` is atomic within
  one filesystem).
* :class:`Registry`: name -> object, filled by decorators in the module that defines the object
  ("one file that registers itself", as timm's ``register_model``), with case-insensitive aliases,
  wildcard listing, duplicate-name errors, close-match suggestions for unknown names
  (``difflib.get_close_matches``), lazy discovery of the modules of a package, and third-party
  plugins through an entry-point group.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import logging
import os
import pkgutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# errors of the data layer (here, below datasets.base and datasets.folds, so neither imports the
# other for them)
# --------------------------------------------------------------------------------------------


class InputError(Exception):
    """Marker base of every error caused by bad input (a file, a name, an option), whose message
    names the file, field and value at fault. The command line prints such a message and exits
    with status 2; any other exception is a bug and keeps its traceback."""


class DatasetError(InputError, ValueError):
    """A dataset on disk is malformed; the message names the file, line or field at fault."""


class DatasetNotFoundError(InputError, FileNotFoundError):
    """A dataset is absent under the data root; the message names the searched path and how to get it."""


# --------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temporary file next to it, which is then
    fsync'ed and renamed onto ``path`` (``os.replace``).

    Args:
        path: the target file; its parent folders are created.
        write: called with the temporary path; writes the whole content there (e.g.
            ``lambda p: torch.save(obj, p)`` or an ``h5py.File(p, "w")`` block).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        Whatever ``write`` raises; the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`); no newline translation."""
    return atomic_write_bytes(path, text.encode(encoding))


def is_temp_file(name: str) -> bool:
    """Whether a file name is a leftover temporary file of :func:`atomic_write` (``.<name>.*.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


# --------------------------------------------------------------------------------------------
# registries
# --------------------------------------------------------------------------------------------


class UnknownNameError(InputError, KeyError):
    """An unknown registry name; the message lists the known names and the closest matches.

    A ``KeyError`` subclass (lookups by name), with a readable ``str``; the command line reports
    it as a usage error (exit 2).
    """

    def __str__(self) -> str:  # KeyError repr-quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


def unknown_name_error(
    kind: str, name: str, known: Iterable[str], aliases: dict[str, str] | None = None
) -> UnknownNameError:
    """Build the error for an unknown ``name`` of a registry of ``kind`` (e.g. ``"backend"``).

    The message lists the known names and up to three close matches
    (``difflib.get_close_matches``, cutoff 0.5, compared case-insensitively); an alias that is
    close suggests the name it stands for.
    """
    known = sorted(known)
    aliases = aliases or {}
    candidates = {n.lower(): n for n in known}
    candidates.update({a.lower(): target for a, target in aliases.items()})
    close = difflib.get_close_matches(name.lower(), list(candidates), n=5, cutoff=0.5)
    suggestions: list[str] = []
    for c in close:
        if candidates[c] not in suggestions:
            suggestions.append(candidates[c])
    hint = f"; did you mean {', '.join(repr(c) for c in suggestions[:3])}?" if suggestions else ""
    return UnknownNameError(f"unknown {kind} {name!r}; known: {', '.join(known)}{hint}")


class Registry(Generic[T]):
    """Objects of one kind (backends, architectures, datasets) registered by name.

    Args:
        kind: what is registered, for messages (``"backend"``).
        package: a package whose modules register themselves on import (e.g. ``"backends"``),
            its sub-packages' modules included (e.g. ``datasets.loaders``); they are imported
            lazily, on the first lookup or listing, so that importing the
            registry itself is cheap and no framework is imported before it is needed. Adapter
            modules must therefore import their heavy frameworks inside functions.
        entry_point_group: entry-point group through which installed third-party packages add
            their own (e.g. ``"neurofer_bench.backends"``); each entry point is loaded (its module
            imported, which registers its objects; if it resolves to a callable, that is called
            with this registry). A plugin that fails to load is logged and skipped.
        skip_modules: modules of ``package`` that register nothing and need not be imported.
        include: a shell-style pattern (``fnmatch``) on module names: only the modules of
            ``package`` that match it are imported (e.g. ``"executor_*"`` in
            ``benchmarks.runner``, so that a new executor is one new file there); ``None``:
            all of them.

    The registry reads like a read-only mapping of name -> object in registration order
    (``iter``, ``len``, ``reg[name]``, :meth:`items`, :meth:`values`), lookups resolving aliases.

    Raises (of the methods):
        ValueError: a duplicate name or alias.
        UnknownNameError: an unknown name (close matches suggested).
    """

    def __init__(
        self,
        kind: str,
        *,
        package: str | None = None,
        entry_point_group: str | None = None,
        skip_modules: Iterable[str] = (),
        include: str | None = None,
    ):
        self.kind = kind
        self.include = include
        self.package = package
        self.entry_point_group = entry_point_group
        self.skip_modules = set(skip_modules)
        self._items: dict[str, T] = {}
        self._modules: dict[str, str] = {}
        self._aliases: dict[str, str] = {}
        self._loaded = False
        self.plugin_errors: dict[str, str] = {}

    # -- registration ------------------------------------------------------------------------

    def register(self, name: str, obj: T | None = None, *, aliases: Iterable[str] = ()) -> Any:
        """Register ``obj`` under ``name`` (and its ``aliases``, matched case-insensitively).

        Used directly (``reg.register("x", obj)``) or as a decorator (``@reg.register("x")``),
        which returns the decorated object unchanged.

        Raises:
            ValueError: ``name`` or an alias is already taken.
        """

        def deco(o: T) -> T:
            if name in self._items:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered (by {self._modules[name]})"
                )
            for a in aliases:
                if a.lower() in self._aliases or a in self._items:
                    raise ValueError(f"{self.kind} alias {a!r} is already taken")
            self._items[name] = o
            self._modules[name] = getattr(o, "__module__", None) or type(o).__module__
            for a in aliases:
                self._aliases[a.lower()] = name
            return o

        return deco if obj is None else deco(obj)

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.package is not None:
            pkg = importlib.import_module(self.package)
            self._import_modules(self.package, pkg.__path__)
        if self.entry_point_group is not None:
            self.load_plugins()

    def _import_modules(self, package: str, path: Iterable[str]) -> None:
        """Import every module of ``package`` (found on ``path``) and, depth first, of its
        sub-packages (e.g. ``datasets.loaders``), skipping names that start with ``_`` and
        :attr:`skip_modules` (matched on the last name component). A module or sub-package that
        fails to import is recorded in :attr:`plugin_errors` and logged; its siblings still load.
        """
        for info in pkgutil.iter_modules(list(path)):
            if info.name.startswith("_") or info.name in self.skip_modules:
                continue
            if self.include is not None and not fnmatch.fnmatch(info.name, self.include):
                continue
            module = f"{package}.{info.name}"
            try:
                mod = importlib.import_module(module)
            except Exception as exc:  # a broken module disables what it registers only
                self.plugin_errors[module] = f"{type(exc).__name__}: {exc}"
                log.warning("%s module %s failed to import: %s", self.kind, module, exc)
                continue
            if info.ispkg:
                self._import_modules(module, mod.__path__)

    def load_plugins(self) -> list[str]:
        """Load the entry points of :attr:`entry_point_group`; returns the names loaded.

        A plugin that fails to import is recorded in :attr:`plugin_errors` and logged; it never
        breaks the registry.
        """
        from importlib.metadata import entry_points

        loaded = []
        for ep in entry_points(group=self.entry_point_group):
            try:
                obj = ep.load()
                if callable(obj) and not isinstance(obj, type):
                    obj(self)
                loaded.append(ep.name)
            except Exception as exc:  # a broken plugin disables itself only
                self.plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                log.warning("%s plugin %r (%s) failed to load: %s", self.kind, ep.name, ep.value, exc)
        return loaded

    # -- lookup ------------------------------------------------------------------------------

    def resolve(self, name: str) -> str:
        """The registered name for ``name``: itself, an alias, or a case-insensitive match.

        Raises:
            UnknownNameError: no such name or alias (close matches suggested).
        """
        self._ensure_loaded()
        if name in self._items:
            return name
        low = name.lower()
        if low in self._aliases:
            return self._aliases[low]
        for n in self._items:
            if n.lower() == low:
                return n
        raise unknown_name_error(self.kind, name, self._items, self._aliases)

    def get(self, name: str) -> T:
        """The object registered as ``name`` (or an alias of it).

        Raises:
            UnknownNameError: unknown name.
        """
        return self._items[self.resolve(name)]

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching the wildcard ``pattern``, in registration order."""
        self._ensure_loaded()
        return [n for n in self._items if fnmatch.fnmatch(n, pattern)]

    def aliases(self, name: str) -> list[str]:
        """The aliases of ``name`` (lower-cased)."""
        self._ensure_loaded()
        return sorted(a for a, n in self._aliases.items() if n == name)

    def module_of(self, name: str) -> str:
        """The module that registered ``name``."""
        return self._modules[self.resolve(name)]

    def __getitem__(self, name: str) -> T:
        """``reg[name]``: :meth:`get` (raises :class:`UnknownNameError`, a ``KeyError``)."""
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        """The registered names, in registration order."""
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs, in registration order."""
        return [(n, self._items[n]) for n in self.names()]

    def values(self) -> list[T]:
        """The registered objects, in registration order."""
        return [self._items[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        try:
            self.resolve(str(name))
            return True
        except UnknownNameError:
            return False
