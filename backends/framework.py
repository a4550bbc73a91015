"""The part every torch-based SNN framework adapter shares.

The adapters of snntorch, spikingjelly, sinabs and norse compile every spec with
:func:`backends.blocks.build.build_model` and differ only in their neuron layer (a
:class:`backends.blocks.activations.TimeActivation` wrapping the framework's neuron), the framework's
import and its neuron self-check. :class:`TorchSpikingBackend` implements the rest of the Backend
protocol once: ``available`` (import, then the neuron self-check on :attr:`self_check_neurons`,
never raising), ``build`` (spec checks, the self-check for the spec's neuron, compilation),
``forward`` (:func:`backends.blocks.forward.run_forward`) and ``versions``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import torch
from torch import nn

from backends.base import BackendUnavailableError, ForwardOutput
from backends.blocks.build import build_model
from backends.blocks.forward import run_forward
from backends.blocks.neurons import check_neuron
from backends.specs import ConvNetSpec, NeuronSpec, ResNetSpec, SEENSpec

log = logging.getLogger(__name__)


def import_or_unavailable(name: str, *submodules: str) -> Any:
    """Import package ``name`` and its ``submodules`` (e.g. ``"layers"``) and return the package.

    Raises:
        BackendUnavailableError: any of them cannot be imported (an ImportError or any error its
            import raises); the message names the package and the cause.
    """
    import importlib

    try:
        module = importlib.import_module(name)
        for sub in submodules:
            importlib.import_module(f"{name}.{sub}")
    except Exception as exc:  # ImportError, or any error raised while importing it
        raise BackendUnavailableError(
            f"{name.split('.')[0]} is not importable: {type(exc).__name__}: {exc}"
        ) from exc
    return module


class TorchSpikingBackend:
    """Base class of a torch SNN framework's adapter (see the module docstring).

    Subclasses set ``name``, ``framework`` (the key of its version in :meth:`versions`),
    ``equality`` (:class:`backends.equality.Equality`) and, if they check more neurons than the
    default, ``self_check_neurons``; and implement :meth:`import_framework`,
    :meth:`check_neuron_semantics` and :meth:`make_neuron`.
    """

    name: ClassVar[str]
    framework: ClassVar[str]
    spiking: ClassVar[bool] = True
    equality: ClassVar[Any]
    unsupported: ClassVar[dict[str, str]] = {}
    self_check_neurons: ClassVar[tuple[NeuronSpec, ...]] = (
        NeuronSpec(model="lif", beta=0.5, reset="zero"),
        NeuronSpec(model="lif", beta=0.5, reset="subtract"),
        NeuronSpec(model="if", reset="zero"),
    )
    """Neurons :meth:`available` checks (the specs' own neurons are checked again by ``build``)."""

    # -- what a framework provides -------------------------------------------------------------

    def import_framework(self) -> Any:
        """Import the framework (lazily) and return its module.

        Raises:
            BackendUnavailableError: it is missing or broken (the message says why).
        """
        raise NotImplementedError

    def framework_version(self) -> str:
        """The framework's version string (default: its module's ``__version__``)."""
        return str(self.import_framework().__version__)

    def check_neuron_semantics(self, neuron: NeuronSpec) -> None:
        """Check that the framework's neuron runs the canonical dynamics for ``neuron``.

        Raises:
            BackendUnavailableError: it does not (the installed version changed its update).
        """
        raise NotImplementedError

    def make_neuron(self, neuron: NeuronSpec) -> nn.Module:
        """A :class:`backends.blocks.activations.TimeActivation` running the framework's neuron."""
        raise NotImplementedError

    def extra_versions(self) -> dict[str, str]:
        """More provenance entries (default none)."""
        return {}

    # -- the Backend protocol ------------------------------------------------------------------

    def available(self) -> tuple[bool, str]:
        """``(True, "")`` if the framework imports and its neuron passes the self-check on
        :attr:`self_check_neurons`, else ``(False, reason)``; never raises."""
        try:
            self.import_framework()
            for neuron in self.self_check_neurons:
                self.check_neuron_semantics(neuron)
        except BackendUnavailableError as exc:
            return False, str(exc)
        except Exception as exc:  # never raise from available()
            log.warning("%s backend: availability check failed: %r", self.name, exc)
            return False, f"{self.name} check failed: {type(exc).__name__}: {exc}"
        return True, ""

    def build(
        self,
        arch: ConvNetSpec | ResNetSpec | SEENSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
    ) -> nn.Module:
        """Compile ``arch`` for inputs ``(T, 2, H, W)`` with ``num_classes`` outputs (on CPU; move
        it with ``.to(device)``).

        Raises:
            BackendUnavailableError: the framework is missing or its neuron dynamics changed.
            TypeError, ValueError: bad arguments (see
                :func:`backends.blocks.plans.check_build_args`), or a neuron the framework
                cannot express (the message says why).
        """
        self.import_framework()
        neuron = getattr(arch, "neuron", None)
        if isinstance(neuron, NeuronSpec):
            check_neuron(neuron)
            self.check_neuron_semantics(neuron)
        return build_model(
            arch, input_shape, num_classes, lambda name: self.make_neuron(arch.neuron), spiking=True
        )

    def forward(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        frames: torch.Tensor | None = None,
        record_activity: bool = False,
    ) -> ForwardOutput:
        """Run ``model`` on ``x`` ``(B, T, 2, H, W)`` float32 (and ``frames`` ``(B, F, 1, H, W)``
        for a two-input spec such as ``seen``, ValueError otherwise); see
        :func:`backends.blocks.forward.run_forward`. ``activity[i].spikes`` are spike counts."""
        return run_forward(model, x, frames=frames, record_activity=record_activity)

    def versions(self) -> dict[str, str]:
        """``{"torch": ..., <framework>: ...}`` plus :meth:`extra_versions`; the framework's entry
        reads ``"unavailable: <reason>"`` when it cannot be imported."""
        try:
            version = self.framework_version()
        except BackendUnavailableError as exc:
            version = f"unavailable: {exc}"
        return {"torch": torch.__version__, self.framework: version, **self.extra_versions()}
