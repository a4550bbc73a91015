"""The backend protocol, its result types and the backend registry.

Every backend (``ann``, ``snntorch``, ``lava-dl``, ...) compiles the same architecture spec
(:mod:`backends.specs`) into a ``torch.nn.Module`` and runs it on a batch of binned events, a float32
tensor of shape ``(B, T, 2, H, W)``; a two-input architecture (a spec whose ``inputs`` is
``("events", "frames")``, e.g. ``seen``) also takes intensity frames ``(B, F, 1, H, W)`` through
``forward(..., frames=...)``. Adapters import their framework lazily (inside functions), so
that a missing or broken framework disables only that backend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from datasets.common import Registry, UnknownNameError, unknown_name_error  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class BackendUnavailableError(RuntimeError):
    """A backend's framework is missing or broken; the message says why."""


@dataclass
class LayerActivity:
    """Activity of one layer over one forward pass of a batch, summed over the batch.

    Attributes:
        name: layer name, the same in every backend for the same architecture (e.g. ``conv1``).
        kind: ``"conv"``, ``"linear"``, ``"neuron"`` ... (what produced the counts).
        time_steps: number of time steps ``T`` the layer ran (1 for a time-folded ANN layer).
        neurons: output units per sample per time step (e.g. ``C*H*W``).
        spikes: number of non-zero outputs (spikes for an SNN, non-zero activations for an ANN),
            summed over batch and time.
        effective_acs: synaptic operations whose input was binary (accumulates), summed over batch
            and time, as NeuroBench's ``SynapticOperations`` defines them (Yik et al., Nature
            Communications 2025, "Effective_ACs").
        effective_macs: likewise, for real-valued input (multiply-accumulates, "Effective_MACs").
        dense_ops: operations with every input and weight taken as non-zero ("Dense").
        input_nonzeros: non-zero inputs of the layer (input events), summed over batch and time
            (the memory-aware energy models cost one read per input event).
        connection: the layer's :class:`backends.activity.ConnectionShape` (kernel, channels,
            map sizes), set by the activity recorder; ``None`` where unknown.
    """

    name: str
    kind: str
    time_steps: int
    neurons: int = 0
    spikes: float = 0.0
    effective_acs: float = 0.0
    effective_macs: float = 0.0
    dense_ops: float = 0.0
    input_nonzeros: float = 0.0
    connection: Any = None


@dataclass
class ForwardOutput:
    """What a backend's forward pass returns.

    Attributes:
        logits: ``(B, K)`` class scores used for the prediction.
        logits_per_step: ``(B, T, K)`` readout after ``t = 1..T`` steps (cumulative), for
            accuracy vs time steps; ``None`` where the model has no time axis.
        activity: per-layer activity, summed over the batch (empty if not recorded).
        batch_size: ``B``.
        features: ``(B, F)`` the readout's input (the last hidden layer's output: spikes of an
            SNN, activations of an ANN) averaged over the ``T'`` time steps, as the logits are;
            gradients flow through it. Methods that act on the representation (ELIM's identity
            matching, :mod:`benchmarks.runner.methods`) use it; ``None`` where a backend does not
            provide it. The model's ``apply_readout(features)`` maps it to ``(B, K)`` scores
            (equal to ``logits`` for a linear readout).
    """

    logits: torch.Tensor
    logits_per_step: torch.Tensor | None = None
    activity: list[LayerActivity] = field(default_factory=list)
    batch_size: int = 0
    features: torch.Tensor | None = None


@runtime_checkable
class Backend(Protocol):
    """What every backend adapter provides (one module per backend under ``backends/``)."""

    name: str
    spiking: bool
    equality: Any
    """A spiking backend's :class:`backends.equality.Equality` with the canonical neuron
    (``"exact"``, ``"exact_except_ties"`` or ``"bounded"`` with its ``eps``); ``None`` for an ANN."""
    unsupported: dict[str, str]
    """Optional: ``{architecture name: why this backend cannot compile it}``; its ``build``
    raises ``ValueError`` with that reason (the contract tests skip such pairs with it)."""

    def available(self) -> tuple[bool, str]:
        """``(True, "")`` if the framework imports, else ``(False, reason)``; never raises."""

    def build(self, arch: Any, input_shape: tuple[int, int, int, int], num_classes: int) -> torch.nn.Module:
        """Compile ``arch`` for inputs ``(T, 2, H, W)`` into a model with ``num_classes`` outputs.

        Raises:
            BackendUnavailableError: the framework is missing or broken.
            ValueError: the architecture cannot be expressed in this backend (message says why).
        """

    def forward(
        self,
        model: torch.nn.Module,
        x: torch.Tensor,
        *,
        frames: torch.Tensor | None = None,
        record_activity: bool = False,
    ) -> ForwardOutput:
        """Run ``model`` on ``x`` of shape ``(B, T, 2, H, W)`` float32; see :class:`ForwardOutput`.

        ``frames``: ``(B, F, 1, H, W)`` float32 intensity frames in [0, 1], for architectures whose
        spec's ``inputs`` include ``"frames"`` (``backends.specs.arch_inputs``); event-only
        architectures are called with ``frames=None``.

        Raises:
            TypeError: a wrong model type, or ``x`` / ``frames`` not float32 tensors.
            ValueError: a wrong shape; ``frames`` given to an event-only architecture, or
                missing for one that takes frames.
        """

    def versions(self) -> dict[str, str]:
        """Versions of the framework packages used, for provenance."""

    # Optional: ``runtime_info(model) -> dict[str, str]``: what ran in the model's last forward
    # pass where the framework chooses at run time (e.g. spikingjelly's neuron kernel per device
    # and dtype); the cell stores it in the record's ``provenance.backend_runtime``.


BACKENDS: Registry[Backend] = Registry(
    "backend", package="backends.adapters", entry_point_group="neurofer_bench.backends",
)
"""Registry: backend name -> adapter instance. Each adapter module under ``backends/adapters/`` registers
its instance with :func:`register_backend` when imported; the modules are imported on the first
lookup, and must themselves import without their framework (frameworks are imported lazily), so
that listing the backends never imports a framework. Third-party packages add backends through the
``neurofer_bench.backends`` entry-point group."""


def register_backend(backend: Backend) -> Backend:
    """Register an adapter instance under its ``name`` attribute and return it.

    Example (the last line of ``backends/my_framework.py``)::

        BACKEND = register_backend(MyFrameworkBackend())

    Raises:
        ValueError: the name is already registered.
    """
    return BACKENDS.register(backend.name, backend)


def backend_names() -> list[str]:
    """Names of all registered backends (available or not), in registration order."""
    return BACKENDS.names()


def get_backend(name: str) -> Backend:
    """Return the backend registered as ``name``.

    Use ``get_backend(name).available()`` to know whether it can run.

    Raises:
        UnknownNameError: ``name`` is not registered (lists known names and close matches).
    """
    return BACKENDS.get(name)


def backend_status() -> dict[str, tuple[bool, str]]:
    """``{name: (available, reason)}`` for every registered backend; never raises."""
    out: dict[str, tuple[bool, str]] = {}
    for name in backend_names():
        try:
            out[name] = get_backend(name).available()
        except Exception as exc:  # a broken adapter is unavailable, not fatal
            log.warning("backend %s: availability check failed: %s", name, exc)
            out[name] = (False, f"availability check failed: {type(exc).__name__}: {exc}")
    return out
