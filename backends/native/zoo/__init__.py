"""The SNN frameworks' own model zoos as native models: one module per family, each registering its models with :func:`register_zoo` when imported (the architecture registry imports every module of this package on its first lookup)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datasets.common import Registry

Build = Callable[[int, int, tuple[int, int], int], Any]
"""``build(num_classes, in_channels, input_size (H, W), n_time_bins) -> torch.nn.Module``."""


@dataclass(frozen=True)
class ZooModel:
    """A registered zoo model.

    Attributes:
        name: its architecture name (at paper scale).
        build: see :data:`Build`; the card's factory is ``build`` bound to the card's size.
        ci_n_time_bins, ci_input_size: the reduced size at which the tests run one epoch of it
            (a model card has no such field; :func:`register_ci` registers ``<name>-ci``).
        card: the keywords given to :func:`backends.native.card.register_model`.
    """

    name: str
    build: Build
    ci_n_time_bins: int
    ci_input_size: tuple[int, int]
    card: dict[str, Any]


ZOO: Registry[ZooModel] = Registry("zoo model", package="backends.native.zoo")
"""Registry: zoo model name -> :class:`ZooModel`, in registration order (the modules of this
package, imported on the first lookup, register theirs with :func:`register_zoo`). A new family
is one new module here; a third-party package adds zoo models by calling :func:`register_zoo`
from its ``neurofer_bench.archs`` entry point (a zoo model is an architecture)."""


def _bind(build: Build, input_size: tuple[int, int], n_time_bins: int,
          qualname: str) -> Callable[[int, int], Any]:
    def factory(num_classes: int, in_channels: int) -> Any:
        return build(num_classes, in_channels, tuple(input_size), n_time_bins)

    factory.__module__ = getattr(build, "__module__", __name__)
    factory.__qualname__ = qualname
    return factory


def register_zoo(name: str, build: Build, *, ci_n_time_bins: int,
                 ci_input_size: tuple[int, int], **card: Any) -> ZooModel:
    """Register ``build`` at the card's size as the native model ``name`` (``card``: the keywords
    of :func:`backends.native.card.register_model`) and remember its CI size.

    Raises:
        backends.native.card.ModelCardError: an invalid card field.
        ValueError: ``name`` is already taken.
    """
    from backends.native.card import register_model

    factory = _bind(build, card["input_size"], card["n_time_bins"],
                    getattr(build, "__qualname__", name))
    register_model(name, **card)(factory)  # a taken name raises here, before ZOO changes
    return ZOO.register(name, ZooModel(name, build, ci_n_time_bins, tuple(ci_input_size),
                                       dict(card)))


def register_ci(name: str) -> str:
    """Register (once) the CI-size variant of the zoo model ``name`` as ``<name>-ci``: the same
    card with ``n_time_bins`` and ``input_size`` replaced by the CI size; returns that name.

    Raises:
        KeyError: ``name`` is not a zoo model (UnknownNameError, close matches suggested).
    """
    from backends.native.card import register_model
    from backends.specs import ARCHS

    entry = ZOO[name]
    ci_name = f"{name}-ci"
    if ci_name not in ARCHS.names():
        card = dict(entry.card, n_time_bins=entry.ci_n_time_bins,
                    input_size=entry.ci_input_size)
        card["notes"] = (card.get("notes", "") + f" CI size of {name}: T = "
                         f"{entry.ci_n_time_bins}, {entry.ci_input_size[0]}x"
                         f"{entry.ci_input_size[1]}.").strip()
        register_model(ci_name, **card)(_bind(entry.build, entry.ci_input_size,
                                              entry.ci_n_time_bins, f"{name}-ci"))
    return ci_name


def store_membranes(net: Any) -> Any:
    """Set ``store_v_seq = True`` on every spikingjelly neuron of ``net`` (multi-step nodes then
    keep the membrane of every step in ``v_seq``, which the hooks read for membrane updates and
    neuron operations; spikes and gradients are unchanged). Returns ``net``."""
    from spikingjelly.activation_based import neuron

    for m in net.modules():
        if isinstance(m, neuron.BaseNode) and hasattr(m, "store_v_seq"):
            m.store_v_seq = True
    return net


def zoo_names() -> list[str]:
    """The zoo models' names (paper scale), after loading every zoo module and the architecture
    plugins (which may register zoo models)."""
    from backends.specs import ARCHS

    ARCHS.names()
    return ZOO.names()


__all__ = ["ZOO", "ZooModel", "register_ci", "register_zoo", "store_membranes", "zoo_names"]
