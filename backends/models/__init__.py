"""``backends.models``: a second import path of :mod:`backends.native` (the user's native models
and the frameworks' zoos), which user code, plugins and the factory names stored in records
(``backends.models.zoo.sew_resnet.build_sew_resnet18``) use.

Every submodule resolves to the module of :mod:`backends.native` itself, not a copy (one
registry, one ``ZOO``): ``backends.models.card`` is ``backends.native.card``,
``backends.models.zoo.<family>`` is ``backends.native.zoo.<family>``, and
``backends.models.native`` (the native-model runner) is :mod:`backends.native.backend`. An
import finder on ``sys.meta_path`` maps the names on first import, so that importing this package
imports no framework and no torch.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Any

_OLD = __name__
_NEW = "backends.native"
#: Submodules whose name differs under :mod:`backends.native` (name here -> name there).
_RENAMED = {"native": "backend"}


def target_name(fullname: str) -> str:
    """The :mod:`backends.native` module that ``fullname`` (``backends.models[.X[.Y]]``) names,
    e.g. ``"backends.models.native"`` -> ``"backends.native.backend"``."""
    rest = fullname[len(_OLD):].lstrip(".").split(".") if fullname != _OLD else []
    if rest:
        rest[0] = _RENAMED.get(rest[0], rest[0])
    return ".".join([_NEW, *rest])


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``backends.models.<X>`` and loads it as the module :func:`target_name` gives."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:  # noqa: D102
        if not fullname.startswith(_OLD + "."):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> ModuleType:  # noqa: D102
        module = importlib.import_module(target_name(spec.name))
        spec.loader_state = module.__spec__  # restored in exec_module (the import sets __spec__)
        return module

    def exec_module(self, module: ModuleType) -> None:  # noqa: D102
        real_spec = module.__spec__.loader_state
        if real_spec is not None:
            module.__spec__ = real_spec


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())


def __getattr__(name: str) -> Any:
    """``backends.models.<name>``: a submodule (through the finder) or a name of
    :mod:`backends.native`'s own package module."""
    try:
        return importlib.import_module(f"{_OLD}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"{_OLD}.{name}", target_name(f"{_OLD}.{name}")):
            raise  # the module exists but a dependency of it is missing
        native = importlib.import_module(_NEW)
        try:
            return getattr(native, name)
        except AttributeError:
            raise AttributeError(f"module {_OLD!r} has no attribute {name!r}") from None
