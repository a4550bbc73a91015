"""NIR exchange, shared parts: errors, versions, what NIR can express, the canonical state and the neuron mapping."""

from __future__ import annotations

import importlib.metadata
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from backends.equality import check_state_matches
from backends.specs import (
    ConvNetSpec,
    NeuronSpec,
    ResNetSpec,
    SEENSpec,
    arch_names,
    get_arch,
)
from datasets.common import InputError

log = logging.getLogger(__name__)

NIR_DT = 1e-4
"""Default time step (seconds per time bin) of the graphs written here: the ``dt`` snntorch's
writer and reader fix (``snntorch/export_nir.py``, ``import_nir.py``: ``dt = 1e-4``) and
spikingjelly's ``nir_exchange`` default."""

METADATA_KEY = "neurofer_bench"
"""Key of the suite's JSON description in a written graph's ``metadata``."""

METADATA_FORMAT = "neurofer-nir"
METADATA_VERSION = 1

SUITE_NODES = ("Input", "Output", "Conv2d", "Flatten", "Linear", "Affine", "LIF", "IF")
"""NIR node types the suite's reader (:func:`spec_from_graph`) compiles."""

NODE_UNSUPPORTED = {
    "SumPool2d": "sum pooling: the suite's ConvNetSpec pools by max only (ConvLayer.pool); "
    "tiny_nir downsamples with stride-2 convolutions instead",
    "AvgPool2d": "average pooling: the suite's ConvNetSpec pools by max only (ConvLayer.pool); "
    "tiny_nir downsamples with stride-2 convolutions instead",
    "CubaLIF": "a current-based LIF (with a synaptic current state): the canonical neuron of "
    "backends.specs has none",
    "CubaLI": "a current-based leaky integrator: the suite's readout is the mean over time of "
    "the output layer's current, not an integrator",
    "LI": "a leaky integrator: the suite's readout is the mean over time of the output layer's "
    "current, not an integrator",
    "I": "an integrator: the suite's readout is the mean over time of the output layer's current",
    "Delay": "synaptic delays: the suite's layers have none",
    "Threshold": "a bare threshold without membrane: no suite neuron",
    "Scale": "an elementwise scale: the suite's layers have no per-neuron gain",
    "Conv1d": "a 1-D convolution: the suite's specs take (2, H, W) frames",
    "NIRGraph": "a subgraph (recurrence): the suite's ConvNetSpec is feed-forward",
}
"""Why the suite's reader refuses a node type NIR has (the message of
:class:`UnsupportedNodeError`)."""


# ---------------------------------------------------------------------------------------------
# errors and versions
# ---------------------------------------------------------------------------------------------


class NIRError(InputError, ValueError):
    """A NIR export or import failed because of its input; the message names the file, node or
    spec layer and the value at fault."""


class NIRExportError(NIRError):
    """A model or architecture cannot be written as NIR (names the node NIR lacks)."""


class NIRImportError(NIRError):
    """A NIR file cannot be read or compiled (names the file and the node)."""


class NIRVersionError(NIRImportError):
    """A NIR file of an unknown or newer NIR version than the installed ``nir``."""


class UnsupportedNodeError(NIRImportError):
    """A NIR graph has a node the chosen reader cannot compile; ``node`` and ``node_type`` name
    it."""

    def __init__(self, message: str, node: str = "", node_type: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.node_type = node_type


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def nir_versions() -> dict[str, str]:
    """Provenance of the NIR exchange: ``{"nir": ..., "nirtorch": ...}`` (installed
    distribution versions, ``"not installed"`` if absent); never raises.

    >>> sorted(nir_versions())
    ['nir', 'nirtorch']
    """
    return {"nir": _dist_version("nir"), "nirtorch": _dist_version("nirtorch")}


def _import_nir() -> Any:
    try:
        import nir
    except Exception as exc:  # ImportError or a broken install
        raise NIRError(f"nir is not importable: {type(exc).__name__}: {exc}") from exc
    return nir


# ---------------------------------------------------------------------------------------------
# what NIR can express
# ---------------------------------------------------------------------------------------------


def nir_unsupported_reason(arch: Any) -> str | None:
    """Why ``arch`` cannot be written as NIR 1.0.8, or ``None`` if it can.

    NIR 1.0.8's nodes (``nir/ir/__init__.py``): Affine, Linear, Scale, Conv1d, Conv2d, Flatten,
    SumPool2d, AvgPool2d, Delay, Threshold, LIF, IF, LI, I, CubaLIF, CubaLI, Input, Output,
    NIRGraph. There is no max-pool node, no batch-norm node and no subtractive reset (LIF and IF
    reset to ``v_reset``).

    >>> nir_unsupported_reason(get_arch("tiny_nir")) is None
    True
    >>> "max-pool" in nir_unsupported_reason(get_arch("tiny"))
    True
    """
    if isinstance(arch, SEENSpec):
        return (
            f"{arch.name}: not expressible in NIR 1.0.8: its frame branch has batch norm (NIR has "
            "no batch-norm node), a softmax attention over scales and per-sample gains on the "
            "event convs (no NIR node multiplies two signals), and two inputs (events and "
            "frames; NIR graphs here have one Input)"
        )
    if isinstance(arch, ResNetSpec):
        return (
            f"{arch.name}: not expressible in NIR 1.0.8: the stem's MaxPool2d(3, 2, 1) (NIR has "
            "no max-pool node, only SumPool2d and AvgPool2d) and batch norm after every conv "
            "(NIR has no batch-norm node)"
        )
    if not isinstance(arch, ConvNetSpec):
        return f"arch: expected a ConvNetSpec, got {type(arch).__name__}"
    reasons = []
    for layer in arch.convs:
        if layer.pool:
            reasons.append(
                f"{arch.name}.{layer.name}: MaxPool2d({layer.pool}) (NIR has no max-pool node, "
                "only SumPool2d and AvgPool2d)"
            )
        if layer.batch_norm:
            reasons.append(f"{arch.name}.{layer.name}: batch norm (NIR has no batch-norm node)")
    if arch.neuron.reset != "zero":
        reasons.append(
            f"{arch.name}.neuron.reset={arch.neuron.reset!r} (NIR's LIF and IF reset to v_reset; "
            "there is no subtractive reset)"
        )
    if not reasons:
        return None
    return "not expressible in NIR 1.0.8: " + "; ".join(reasons)


def check_exportable(arch: Any) -> None:
    """Raise :class:`NIRExportError` with :func:`nir_unsupported_reason` if ``arch`` cannot be
    written as NIR."""
    reason = nir_unsupported_reason(arch)
    if reason is not None:
        raise NIRExportError(reason)


def nir_arch_names() -> list[str]:
    """Registered architectures NIR can express (``tiny_nir`` among the built-in ones)."""
    return [n for n in arch_names() if nir_unsupported_reason(get_arch(n)) is None]


# ---------------------------------------------------------------------------------------------
# canonical state: weights by spec layer name, for every backend
# ---------------------------------------------------------------------------------------------


def _is_lava(model: Any) -> bool:
    try:
        from backends.adapters.lava_dl import LavaDLNet
    except Exception:  # lava-dl's module imports lava lazily; this should not fail
        return False
    return isinstance(model, LavaDLNet)


def canonical_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A compiled model's weights keyed by spec layer name (detached CPU copies).

    Keys: ``{layer}.weight`` (conv ``(O, C, kh, kw)``, linear ``(O, F)``) for every layer of a
    ConvNetSpec in order, and ``{layer}.bn.{weight,bias,running_mean,running_var,
    num_batches_tracked}`` for a conv with batch norm: the keys of
    :func:`backends.adapters.lava_dl.build.canonical_state`, which serves lava-dl's models.

    Raises:
        TypeError: ``model`` is not a ConvNetSpec model of a torch backend
            (:class:`backends.blocks.convnet.PerStepConvNet`) or of lava-dl.
    """
    if _is_lava(model):
        from backends.adapters import lava_dl

        return {k: v.cpu() for k, v in lava_dl.canonical_state(model).items()}
    from backends.blocks.convnet import PerStepConvNet

    if not isinstance(model, PerStepConvNet):
        raise TypeError(
            "canonical_state: expected a ConvNetSpec model (PerStepConvNet of a torch backend or "
            f"a lava-dl SlayerConvNet), got {type(model).__name__}"
        )
    out: dict[str, torch.Tensor] = {}
    for name, unit in model.layers.items():
        syn = unit.conv if hasattr(unit, "conv") else unit.linear
        out[f"{name}.weight"] = syn.weight.detach().cpu().clone()
        bn = getattr(unit, "bn", None)
        if bn is not None:
            for key, value in bn.state_dict().items():
                out[f"{name}.bn.{key}"] = value.detach().cpu().clone()
    return out


def load_canonical_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load weights keyed by spec layer name (:func:`canonical_state`) into ``model``, in place.

    Raises:
        TypeError: see :func:`canonical_state`.
        KeyError: ``state`` lacks keys the model needs or has keys it does not know (both listed).
        ValueError: a tensor's shape differs from the layer's (names the key and both shapes).
    """
    if _is_lava(model):
        from backends.adapters import lava_dl

        lava_dl.load_canonical_state(model, dict(state))
        return
    check_state_matches(canonical_state(model), state)
    with torch.no_grad():
        for name, unit in model.layers.items():
            syn = unit.conv if hasattr(unit, "conv") else unit.linear
            syn.weight.copy_(state[f"{name}.weight"])
            bn = getattr(unit, "bn", None)
            if bn is not None:
                prefix = f"{name}.bn."
                bn.load_state_dict(
                    {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
                )


# ---------------------------------------------------------------------------------------------
# neuron parameters
# ---------------------------------------------------------------------------------------------


def neuron_to_nir(neuron: NeuronSpec, dt: float = NIR_DT) -> dict[str, float]:
    """NIR parameters of the canonical neuron (module docstring, forward Euler at ``dt`` s).

    Returns:
        ``{"type": "LIF" | "IF", "tau", "r", "v_leak", "v_threshold", "v_reset"}`` (``tau`` only
        for LIF; seconds for ``tau``).

    Raises:
        NIRExportError: a subtractive reset (NIR has none) or ``dt`` not positive.

    >>> p = neuron_to_nir(NeuronSpec(model="lif", beta=0.5, threshold=1.0), dt=1e-4)
    >>> round(p["tau"] / 1e-4, 12), p["r"], p["v_threshold"]
    (2.0, 2.0, 1.0)
    """
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NIRExportError(f"dt: expected a positive number of seconds, got {dt!r}")
    if neuron.reset != "zero":
        raise NIRExportError(
            f"neuron.reset={neuron.reset!r}: NIR's LIF and IF reset to v_reset; there is no "
            "subtractive reset"
        )
    thr = float(neuron.threshold)
    if neuron.decay == 1.0:
        return {"type": "IF", "r": 1.0 / dt, "v_threshold": thr, "v_reset": 0.0}
    one_minus_beta = 1.0 - float(neuron.beta)
    return {
        "type": "LIF",
        "tau": dt / one_minus_beta,
        "r": 1.0 / one_minus_beta,
        "v_leak": 0.0,
        "v_threshold": thr,
        "v_reset": 0.0,
    }


def _neuron_node(neuron: NeuronSpec, shape: tuple[int, ...], dt: float) -> Any:
    """A NIR LIF/IF node for ``neuron`` with per-neuron float32 arrays of ``shape``."""
    nir = _import_nir()
    p = neuron_to_nir(neuron, dt)

    def full(v: float) -> np.ndarray:
        return np.full(shape, v, dtype=np.float32)

    if p["type"] == "IF":
        return nir.IF(r=full(p["r"]), v_threshold=full(p["v_threshold"]), v_reset=full(0.0))
    return nir.LIF(
        tau=full(p["tau"]), r=full(p["r"]), v_leak=full(0.0),
        v_threshold=full(p["v_threshold"]), v_reset=full(0.0),
    )


def _uniform(node_name: str, node_type: str, field: str, value: Any) -> float:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 0:
        raise UnsupportedNodeError(
            f"node {node_name!r} ({node_type}): {field} is empty", node_name, node_type
        )
    first = float(arr.ravel()[0])
    if not np.all(arr == first):
        raise UnsupportedNodeError(
            f"node {node_name!r} ({node_type}): per-neuron {field} (values from {arr.min()} to "
            f"{arr.max()}); the suite's layers share one neuron", node_name, node_type,
        )
    return first


def _close(a: float, b: float, rtol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


def neuron_from_nir(node: Any, name: str, dt: float) -> tuple[NeuronSpec, float]:
    """The canonical neuron a NIR LIF/IF node describes at time step ``dt`` (module docstring).

    Returns:
        ``(NeuronSpec, gain)``: ``gain`` is the input gain per step (``r dt / tau`` for LIF,
        ``r dt`` for IF, or 1 for an IF with ``r = 1``, the per-step convention of snntorch's,
        norse's and sinabs' writers). With ``gain != 1`` the threshold is divided by it (the same
        spikes in real arithmetic: ``v' = beta v + g I`` fires at ``thr`` when ``v / g`` fires at
        ``thr / g``; not bit-exact), and a warning is logged.

    Raises:
        UnsupportedNodeError: ``v_leak`` or ``v_reset`` not 0, per-neuron parameters, or
            ``tau <= dt`` (beta outside (0, 1)).
    """
    kind = type(node).__name__
    thr = _uniform(name, kind, "v_threshold", node.v_threshold)
    v_reset = _uniform(name, kind, "v_reset", node.v_reset)
    if v_reset != 0.0:
        raise UnsupportedNodeError(
            f"node {name!r} ({kind}): v_reset={v_reset}: the suite's neurons reset to 0",
            name, kind,
        )
    r = _uniform(name, kind, "r", node.r)
    if kind == "IF":
        gain = 1.0 if r == 1.0 else r * dt
        beta = 1.0
    else:
        v_leak = _uniform(name, kind, "v_leak", node.v_leak)
        if v_leak != 0.0:
            raise UnsupportedNodeError(
                f"node {name!r} (LIF): v_leak={v_leak}: the canonical neuron leaks to 0",
                name, kind,
            )
        tau = _uniform(name, kind, "tau", node.tau)
        if not (tau > dt):
            raise UnsupportedNodeError(
                f"node {name!r} (LIF): tau={tau} s is not above dt={dt} s (beta = 1 - dt/tau "
                "would not be in (0, 1)); pass the file's time step as dt=",
                name, kind,
            )
        beta = 1.0 - dt / tau
        gain = r * dt / tau
    if not _close(gain, 1.0):
        log.warning(
            "node %r (%s): input gain %g per step (r=%g, dt=%g s); threshold %g read as %g",
            name, kind, gain, r, dt, thr, thr / gain,
        )
        thr = thr / gain
    model = "if" if beta == 1.0 else "lif"
    return NeuronSpec(model=model, beta=float(np.float32(beta)) if model == "lif" else 0.5,
                      threshold=float(thr), reset="zero"), gain


