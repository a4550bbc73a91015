"""Model cards: registering a user's own ``torch.nn.Module`` as an architecture of the suite.

A *native model* is a network the suite does not describe with a spec (:mod:`backends.specs`) but
takes as the user wrote it, in its own framework. One decorator registers its factory with a card
that declares everything the suite needs to run, train and measure it::

    from backends import register_model

    @register_model("plif-net", framework="spikingjelly", n_time_bins=8, input_size=(48, 48),
                    layout="TBCHW", output="per_step", citation="Fang et al., ICCV 2021")
    def plif_net(num_classes: int, in_channels: int) -> torch.nn.Module:
        ...

The name becomes an architecture name (the registry of :func:`backends.specs.get_arch`, so
``--archs plif-net`` selects it); :func:`backends.specs.get_arch` returns the :class:`ModelCard`.
A native model runs only in its own framework: the grid pairs it with the backend named after its
framework (:data:`FRAMEWORK_BACKENDS`: ``torch`` -> ``ann``), whatever ``--backends`` says, and
:mod:`backends.native.backend` runs it there (:func:`backends.native.backend.backend_for`).

A plugin file (``run_bench.py run --plugin my_model.py``) is imported by path with
:func:`load_plugin`; what it registers is remembered with the file, so that worker processes
(local, Ray, Slurm) import the same file before they run a cell (the cell records the path).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets.common import InputError

log = logging.getLogger(__name__)

FRAMEWORKS: tuple[str, ...] = ("snntorch", "spikingjelly", "norse", "sinabs", "lava-dl", "torch")
"""Frameworks a native model may be written in (``torch``: a non-spiking ANN)."""

FRAMEWORK_BACKENDS: dict[str, str] = {
    "snntorch": "snntorch", "spikingjelly": "spikingjelly", "norse": "norse", "sinabs": "sinabs",
    "lava-dl": "lava-dl", "torch": "ann",
}
"""The backend (cell ``backend`` field) a native model of each framework runs under."""

FRAMEWORK_PACKAGES: dict[str, str] = {
    "snntorch": "snntorch", "spikingjelly": "spikingjelly", "norse": "norse", "sinabs": "sinabs",
    "lava-dl": "lava.lib.dl.slayer", "torch": "torch",
}
"""The module imported to check (and version) each framework."""

LAYOUTS: tuple[str, ...] = ("TBCHW", "BTCHW", "BCHWT")
"""Input layouts: time-major, batch-major, time-last (lava-dl)."""

OUTPUTS: tuple[str, ...] = ("per_step", "final", "rates")
"""Output kinds: ``per_step`` logits ``(T, B, K)`` (in the layout's time order: ``(B, T, K)``
for ``BTCHW``, ``(B, K, T)`` for ``BCHWT``), ``final`` logits ``(B, K)``, ``rates`` output spike
counts or rates ``(B, K)`` (or per step, summed over time by the suite)."""

BINNINGS: tuple[str, ...] = ("count", "spiking_fer", "time_bins", "event_bins")
"""Event binnings (:class:`datasets.transforms.binning.ToFrames` modes with a fixed ``n_time_bins``);
``count`` is the suite's default (Spiking-FER's event counts per bin, ``spiking_fer``)."""

INPUTS: tuple[tuple[str, ...], ...] = (("events",), ("events", "frames"))
"""What a model may take: event frames, or event frames and intensity frames."""


class ModelCardError(InputError, ValueError):
    """A model card with an invalid field; the message names the model, the field and the value."""


class PluginError(InputError, ImportError):
    """A plugin file that fails to import, registers nothing or takes a name already registered;
    the message names the file (and the model)."""


@dataclass(frozen=True)
class ModelCard:
    """Everything the suite knows about a native model (see the module docstring).

    Attributes:
        name: the architecture name.
        factory: ``factory(num_classes, in_channels) -> torch.nn.Module`` (``in_channels``: 2
            event polarities).
        framework: one of :data:`FRAMEWORKS`.
        n_time_bins: ``T``, the time steps of the input.
        input_size: ``(H, W)`` of the binned frames.
        layout: one of :data:`LAYOUTS`: the order of the model's 5-d input.
        output: one of :data:`OUTPUTS`.
        citation, code_url, licence: where the model comes from (free text; ``None`` unknown).
        binning: one of :data:`BINNINGS`; binarize: clip counts to {0, 1} (also when the
            recipe's ``binarize`` is false).
        inputs: ``("events",)`` or ``("events", "frames")`` (frames ``(B, F, 1, H, W)`` passed as
            the model's second argument).
        loss: ``loss(outputs (B, K), targets (B,)) -> scalar``; ``None``: cross-entropy on the
            logits, or, for ``output="rates"``, MSE between the rates and one-hot targets (Fang et
            al., ICCV 2021, their voting-layer training).
        reset: ``reset(model)`` called before every batch; ``None``: the framework's default
            (:func:`backends.native.backend.default_reset`).
        neuron_classes: extra module classes counted as spiking neurons by the hooks.
        optimizer: ``optimizer(params, recipe) -> (optimizer, scheduler or None)``; ``None``: the
            recipe's optimiser.
        notes: what was changed for event frames, or anything a reader of the results should know.
        plugin: the file that registered the card (set by :func:`load_plugin`), else ``None``.
    """

    name: str
    factory: Callable[[int, int], Any]
    framework: str
    n_time_bins: int
    input_size: tuple[int, int]
    layout: str = "TBCHW"
    output: str = "per_step"
    citation: str | None = None
    code_url: str | None = None
    licence: str | None = None
    binning: str = "count"
    binarize: bool = False
    inputs: tuple[str, ...] = ("events",)
    loss: Callable[..., Any] | None = None
    reset: Callable[[Any], None] | None = None
    neuron_classes: tuple[type, ...] = ()
    optimizer: Callable[..., Any] | None = None
    notes: str = ""
    plugin: str | None = field(default=None, compare=False)

    native = True
    """Marks a card among the architectures (spec'd architectures lack it)."""

    @property
    def backend(self) -> str:
        """The backend name this model runs under (:data:`FRAMEWORK_BACKENDS`)."""
        return FRAMEWORK_BACKENDS[self.framework]

    @property
    def spiking(self) -> bool:
        """Whether the model is a spiking network (every framework but ``torch``)."""
        return self.framework != "torch"

    @property
    def binning_mode(self) -> str:
        """The :class:`datasets.transforms.binning.ToFrames` mode of :attr:`binning`."""
        return "spiking_fer" if self.binning == "count" else self.binning

    def to_record(self, framework_version: str | None = None) -> dict[str, Any]:
        """The card as the JSON object stored in a record's ``model`` field (callables by their
        qualified names; ``None`` where the default applies)."""
        return {
            "name": self.name, "framework": self.framework,
            "framework_version": framework_version, "backend": self.backend,
            "n_time_bins": self.n_time_bins, "input_size": list(self.input_size),
            "layout": self.layout, "output": self.output, "binning": self.binning,
            "binarize": self.binarize, "inputs": list(self.inputs),
            "loss": _qualname(self.loss) or ("mse_rates" if self.output == "rates"
                                             else "cross_entropy"),
            "reset": _qualname(self.reset) or f"default ({self.framework})",
            "optimizer": _qualname(self.optimizer),
            "neuron_classes": [_qualname(c) for c in self.neuron_classes],
            "citation": self.citation, "code_url": self.code_url, "licence": self.licence,
            "notes": self.notes, "factory": _qualname(self.factory), "plugin": self.plugin,
        }


def _qualname(obj: Any) -> str | None:
    if obj is None:
        return None
    mod = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or type(obj).__name__
    return f"{mod}.{name}" if mod else name


def _check(name: str, field_: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise ModelCardError(f"model {name!r}: {field_} must be {expected}, got {value!r}")


def check_card(card: ModelCard) -> ModelCard:
    """Validate every field of ``card`` and return it.

    Raises:
        ModelCardError: the first invalid field (named, with the value and what was expected).
    """
    n = card.name
    _check(n, "name", n, isinstance(n, str) and bool(n.strip()) and "/" not in n,
           "a non-empty string without '/'")
    _check(n, "factory", card.factory, callable(card.factory), "a callable")
    _check(n, "framework", card.framework, card.framework in FRAMEWORKS, f"one of {FRAMEWORKS}")
    _check(n, "n_time_bins", card.n_time_bins,
           isinstance(card.n_time_bins, int) and not isinstance(card.n_time_bins, bool)
           and card.n_time_bins >= 1, "an int >= 1")
    size = card.input_size
    _check(n, "input_size", size,
           isinstance(size, tuple) and len(size) == 2
           and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size),
           "a pair of ints >= 1 (H, W)")
    _check(n, "layout", card.layout, card.layout in LAYOUTS, f"one of {LAYOUTS}")
    _check(n, "output", card.output, card.output in OUTPUTS, f"one of {OUTPUTS}")
    _check(n, "binning", card.binning, card.binning in BINNINGS, f"one of {BINNINGS}")
    _check(n, "binarize", card.binarize, isinstance(card.binarize, bool), "a bool")
    _check(n, "inputs", card.inputs, card.inputs in INPUTS, f"one of {INPUTS}")
    for f in ("loss", "reset", "optimizer"):
        v = getattr(card, f)
        _check(n, f, v, v is None or callable(v), "None or a callable")
    _check(n, "neuron_classes", card.neuron_classes,
           isinstance(card.neuron_classes, tuple)
           and all(isinstance(c, type) for c in card.neuron_classes), "a tuple of classes")
    for f in ("citation", "code_url", "licence", "notes"):
        v = getattr(card, f)
        _check(n, f, v, v is None or isinstance(v, str), "None or a string")
    return card


_LOADING: list[str] = []
"""The plugin file being imported by :func:`load_plugin` (a stack), stamped on its cards."""

_PLUGINS: dict[str, list[str]] = {}
"""Resolved plugin path -> the architecture names it registered (each file is imported once)."""


def register_model(
    name: str,
    *,
    framework: str,
    n_time_bins: int,
    input_size: tuple[int, int],
    layout: str = "TBCHW",
    output: str = "per_step",
    citation: str | None = None,
    code_url: str | None = None,
    licence: str | None = None,
    binning: str = "count",
    binarize: bool = False,
    inputs: tuple[str, ...] = ("events",),
    loss: Callable[..., Any] | None = None,
    reset: Callable[[Any], None] | None = None,
    neuron_classes: tuple[type, ...] = (),
    optimizer: Callable[..., Any] | None = None,
    notes: str = "",
) -> Callable[[Callable[[int, int], Any]], Callable[[int, int], Any]]:
    """Decorator: register ``factory(num_classes, in_channels) -> torch.nn.Module`` as the native
    model ``name`` with the card made of the keywords (see :class:`ModelCard` for each field).

    The decorated factory is returned unchanged, with the card as its ``model_card`` attribute.

    Raises:
        ModelCardError: an invalid keyword (named, with its value).
        ValueError: ``name`` is already an architecture name (:class:`PluginError` when raised
            while :func:`load_plugin` imports a file).
    """
    from backends.specs import ARCHS

    input_size = tuple(input_size) if isinstance(input_size, list) else input_size
    inputs = tuple(inputs) if isinstance(inputs, list) else inputs
    neuron_classes = tuple(neuron_classes) if isinstance(neuron_classes, list) else neuron_classes

    def deco(factory: Callable[[int, int], Any]) -> Callable[[int, int], Any]:
        card = check_card(ModelCard(
            name=name, factory=factory, framework=framework, n_time_bins=n_time_bins,
            input_size=input_size, layout=layout, output=output, citation=citation,
            code_url=code_url, licence=licence, binning=binning, binarize=binarize, inputs=inputs,
            loss=loss, reset=reset, neuron_classes=neuron_classes, optimizer=optimizer,
            notes=notes, plugin=_LOADING[-1] if _LOADING else None,
        ))

        def make_card() -> ModelCard:
            return card

        make_card.__module__ = getattr(factory, "__module__", __name__)
        make_card.__qualname__ = getattr(factory, "__qualname__", name)
        try:
            ARCHS.register(name, make_card)
        except ValueError as exc:
            if _LOADING:
                raise PluginError(
                    f"plugin {_LOADING[-1]}: model {name!r} cannot be registered: the name is "
                    f"already taken ({exc})"
                ) from exc
            raise
        factory.model_card = card  # type: ignore[attr-defined]
        return factory

    return deco


def is_native(arch: Any) -> bool:
    """Whether ``arch`` (what :func:`backends.specs.get_arch` returned) is a :class:`ModelCard`."""
    return isinstance(arch, ModelCard)


def load_plugin(path: str | Path) -> list[str]:
    """Import the Python file ``path`` (by path, as module ``neurofer_plugin_<stem>_<hash>``) and
    return the architecture names it registered. A file already loaded in this process is not
    imported again (its names are returned).

    Raises:
        PluginError: the file does not exist, fails to import (the cause is in the message),
            registers no architecture, or registers a name already taken.
    """
    from backends.specs import ARCHS

    p = Path(path).expanduser()
    try:
        key = str(p.resolve())
    except OSError as exc:
        raise PluginError(f"plugin {path}: cannot resolve the path: {exc}") from exc
    if key in _PLUGINS:
        return list(_PLUGINS[key])
    if not p.is_file():
        raise PluginError(f"plugin {path}: no such file")
    before = set(ARCHS.names())
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    mod_name = f"neurofer_plugin_{p.stem.replace('-', '_')}_{digest}"
    spec = importlib.util.spec_from_file_location(mod_name, p)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    _LOADING.append(key)
    try:
        spec.loader.exec_module(module)
    except PluginError:
        sys.modules.pop(mod_name, None)
        raise
    except InputError as exc:
        sys.modules.pop(mod_name, None)
        raise PluginError(f"plugin {path}: {exc}") from exc
    except Exception as exc:  # any error of the user's file is bad input
        sys.modules.pop(mod_name, None)
        raise PluginError(
            f"plugin {path} fails to import: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        _LOADING.pop()
    names = [n for n in ARCHS.names() if n not in before]
    if not names:
        raise PluginError(
            f"plugin {path} registers nothing: expected at least one @register_model (or "
            "@register_arch) in the file"
        )
    _PLUGINS[key] = names
    log.info("plugin %s registered %s", path, ", ".join(names))
    return names


def load_plugins(paths: tuple[str, ...] | list[str]) -> list[str]:
    """:func:`load_plugin` on each path; all the names registered, in order."""
    out: list[str] = []
    for p in paths:
        out += load_plugin(p)
    return out


def loaded_plugins() -> dict[str, list[str]]:
    """``{resolved path: architecture names}`` of the plugin files loaded in this process."""
    return {k: list(v) for k, v in _PLUGINS.items()}
