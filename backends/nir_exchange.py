"""Train once, run anywhere: NIR export and import, and weight transfer between backends.

NIR (the Neuromorphic Intermediate Representation, Pedersen et al., "Neuromorphic intermediate
representation: A unified instruction set for interoperable brain-inspired computing", Nature
Communications 15, 8122, 2024; package ``nir`` 1.0.8, ``nirtorch`` 2.6) describes a spiking
network as a graph of continuous-time nodes. This module writes the suite's trained models as
``.nir`` files and compiles ``.nir`` files into the suite's backends.

**Canonical state.** Every backend's model can give its weights keyed by spec layer name
(:func:`canonical_state`: ``{layer}.weight`` in PyTorch's layouts, conv ``(O, C, kh, kw)``,
linear ``(O, F)``, and ``{layer}.bn.*`` for batch norm), the keys of
:func:`backends.lava_dl.canonical_state`; :func:`load_canonical_state` loads them into any
backend's compiled model. :func:`transfer` moves a trained model from backend A to backend B
through it or through a NIR file.

**Neuron mapping** (NIR's LIF, ``nir/ir/neuron.py``: ``tau dv/dt = (v_leak - v) + r I``, spike
``z = v > v_threshold``, then ``v = v_reset``). Discretised with forward Euler at the time step
``dt`` (seconds per time bin; the convention of snntorch's writer and reader, which fix
``dt = 1e-4``, and of spikingjelly's ``nir_exchange``, default ``1e-4``)::

    v[t] = (1 - dt / tau) v[t-1] + (r dt / tau) I[t]

which is the canonical neuron of :mod:`backends.specs` (``v[t] = beta v[t-1]' + I[t]``) for

    tau = dt / (1 - beta),   r = tau / dt = 1 / (1 - beta),   v_leak = 0,   v_reset = 0,
    v_threshold = threshold

(tiny_nir, beta 0.5, dt 1e-4 s: tau = 2e-4 s, r = 2). IF (``dv/dt = r I``): ``r = 1 / dt``
(spikingjelly's writer; snntorch's and norse's readers expect ``r = 1``, read as a gain of 1 per
step, and :func:`spec_from_graph` accepts both). NIR fires on ``v > thr``, the canonical neuron on
``v >= thr``: a framework reader that follows NIR (snntorch's) differs from the written model
only where ``v == thr`` exactly (the ``"exact_except_ties"`` class of :mod:`backends.equality`);
the suite's reader reads the graph back into the canonical neuron, so a round trip through it is
exact (the importing backend's own class with the canonical neuron). NIR has no subtractive
reset, no batch norm and no max pooling: specs with them are refused
(:func:`nir_unsupported_reason`).
Every graph written here states ``dt`` and the suite's own description (architecture, neuron,
``n_time_bins``, classes, binner, versions) as JSON in ``metadata["neurofer_bench"]``, since
NIR 1.0.8 has no field for the time step, the number of steps or the readout (logits = mean over
time of the output node's value).

**Writers** (:data:`WRITERS`): the framework's own where it writes the model faithfully
(snntorch ``export_to_nir``, spikingjelly ``nir_exchange.export_to_nir``), else the suite's
(:func:`graph_from_state`, from the canonical state); why norse's, sinabs' and lava-dl's are not
used by default is in :data:`FRAMEWORK_WRITER_NOTES`. **Readers**: the suite's
(:func:`spec_from_graph`: recover the spec and weights, ``backend.build`` + load; the model then
runs through ``backend.forward`` with the backend's own activity accounting) for every backend,
or the framework's own (:class:`FrameworkNIRModel`: snntorch ``import_from_nir``, spikingjelly
``import_from_nir``, norse ``from_nir``, sinabs ``from_nir``), which read the same file with their
own conventions; :data:`FRAMEWORK_READER_NOTES` lists where they differ.

lava-dl 0.6.0 has no NIR reader or writer; its models export through the canonical state and
its own HDF5 network format (:func:`export_lava_hdf5`, :func:`backends.lava_dl.export_hdf5`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import io
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from backends.equality import check_state_matches
from backends.specs import (
    ConvLayer,
    ConvNetSpec,
    DenseLayer,
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
        from backends.lava_dl import LavaDLNet
    except Exception:  # lava-dl's module imports lava lazily; this should not fail
        return False
    return isinstance(model, LavaDLNet)


def canonical_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A compiled model's weights keyed by spec layer name (detached CPU copies).

    Keys: ``{layer}.weight`` (conv ``(O, C, kh, kw)``, linear ``(O, F)``) for every layer of a
    ConvNetSpec in order, and ``{layer}.bn.{weight,bias,running_mean,running_var,
    num_batches_tracked}`` for a conv with batch norm: the keys of
    :func:`backends.lava_dl.canonical_state`, which serves lava-dl's models.

    Raises:
        TypeError: ``model`` is not a ConvNetSpec model of a torch backend
            (:class:`backends.torch_blocks.PerStepConvNet`) or of lava-dl.
    """
    if _is_lava(model):
        from backends import lava_dl

        return {k: v.cpu() for k, v in lava_dl.canonical_state(model).items()}
    from backends.torch_blocks import PerStepConvNet

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
        from backends import lava_dl

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


# ---------------------------------------------------------------------------------------------
# the suite's writer
# ---------------------------------------------------------------------------------------------


def _plans(arch: ConvNetSpec, input_shape: tuple[int, int, int, int], num_classes: int):
    from backends.torch_blocks import convnet_plan

    return convnet_plan(arch, tuple(input_shape), num_classes, fold=False)


def _suite_metadata(
    arch: ConvNetSpec,
    input_shape: tuple[int, int, int, int],
    num_classes: int,
    dt: float | None,
    writer: str,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    meta = {
        "format": METADATA_FORMAT,
        "format_version": METADATA_VERSION,
        "arch": arch.name,
        "writer": writer,
        "dt_s": dt,
        "n_time_bins": int(input_shape[0]),
        "input_shape": [int(v) for v in input_shape],
        "num_classes": int(num_classes),
        "layers": [layer.name for layer in arch.convs] + [d.name for d in arch.denses],
        "neuron": dataclasses.asdict(arch.neuron),
        "discretisation": "forward Euler: beta = 1 - dt/tau, input gain r*dt/tau (LIF), r*dt (IF)",
        "readout": "logits = mean over the n_time_bins steps of the output node's value",
        "versions": nir_versions(),
    }
    meta.update(dict(extra or {}))
    return meta


def graph_from_state(
    arch: ConvNetSpec,
    input_shape: tuple[int, int, int, int],
    num_classes: int,
    state: Mapping[str, torch.Tensor],
    *,
    dt: float = NIR_DT,
) -> Any:
    """The suite's NIR writer: build the ``nir.NIRGraph`` of ``arch`` from a canonical state.

    Nodes (named after the spec's layers): ``input`` (``Input``, shape ``(2, H, W)``); per conv
    layer ``{name}`` (``Conv2d``, zero bias) and ``{name}_lif`` (``LIF``/``IF``, per-neuron
    float32 arrays); ``flatten`` (``Flatten``, start 0, end -1: PyTorch's ``(C, H, W)`` order);
    per hidden dense layer ``{name}`` (``Linear``) and ``{name}_lif``; the readout ``{name}``
    (``Linear``) and ``output`` (``Output``, shape ``(K,)``). A chain, edges in order.

    Args:
        arch: a ConvNetSpec NIR can express (:func:`check_exportable`).
        input_shape: ``(T, 2, H, W)``.
        num_classes: ``K``.
        state: :func:`canonical_state` of a model of ``arch``.
        dt: seconds per time step (see :func:`neuron_to_nir`).

    Raises:
        NIRExportError: ``arch`` is not expressible.
        KeyError: ``state`` lacks a layer's weight.
    """
    check_exportable(arch)
    nir = _import_nir()
    conv_plans, dense_plans = _plans(arch, input_shape, num_classes)
    _, c, h, w = input_shape
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([c, h, w])})}
    edges: list[tuple[str, str]] = []
    prev = "input"

    def add(name: str, node: Any) -> None:
        nonlocal prev
        nodes[name] = node
        edges.append((prev, name))
        prev = name

    hw = (h, w)
    for layer, plan in zip(arch.convs, conv_plans, strict=True):
        weight = state[f"{layer.name}.weight"].detach().cpu().numpy().astype(np.float32)
        add(layer.name, nir.Conv2d(
            input_shape=hw, weight=weight, stride=(layer.stride, layer.stride),
            padding=(layer.padding, layer.padding), dilation=(1, 1), groups=1,
            bias=np.zeros(layer.out_channels, dtype=np.float32),
        ))
        add(f"{layer.name}_lif", _neuron_node(arch.neuron, (plan.out_channels, *plan.out_hw), dt))
        hw = plan.out_hw
    last = (conv_plans[-1].out_channels, *conv_plans[-1].out_hw) if conv_plans else (c, h, w)
    add("flatten", nir.Flatten(input_type={"input": np.array(last)}, start_dim=0, end_dim=-1))
    for plan in dense_plans:
        weight = state[f"{plan.name}.weight"].detach().cpu().numpy().astype(np.float32)
        add(plan.name, nir.Linear(weight=weight))
        if not plan.readout:
            add(f"{plan.name}_lif", _neuron_node(arch.neuron, (plan.out_features,), dt))
    add("output", nir.Output(output_type={"output": np.array([num_classes])}))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=True)


# ---------------------------------------------------------------------------------------------
# the frameworks' writers
# ---------------------------------------------------------------------------------------------

FRAMEWORK_WRITER_NOTES: dict[str, str] = {
    "snntorch": "snntorch 1.0.0 export_to_nir (nirtorch.extract_nir_graph): used. It writes "
    "Leaky as LIF(tau = dt/(1-beta), r = tau/dt, v_reset 0) with dt fixed at 1e-4 s; its 0-d "
    "beta/threshold make nir 1.0.8's type inference fail on conv layers ('type mismatch'), so the "
    "adapter gives each Leaky per-neuron beta/threshold tensors; IF (beta = 1) would give "
    "tau = inf, so IF specs go through the suite's writer.",
    "spikingjelly": "spikingjelly 2.0.0 nir_exchange.export_to_nir: used (LIFNode(tau, "
    "decay_input=False) as LIF(tau*dt, r=tau), IFNode as IF(r=1/dt); soft reset refused).",
    "norse": "norse 1.1.0 to_nir: not used. It has no mapping for torch.nn.Flatten (the node "
    "becomes None, which nir.write cannot serialise), needs conv biases, writes 0-d LIF "
    "parameters and writes LIFBoxCell as LIF with r = 1, dropping the adapter's input pre-scale "
    "1/(1-beta); the suite's writer serves norse models.",
    "sinabs": "sinabs 3.1.3 to_nir: not used by default (writer='framework' forces it). It "
    "writes LIF(tau = tau_mem in time steps, r = 1) for sinabs' exp(-1/tau_mem) decay with "
    "norm_input=False, i.e. no dt and an input gain of 1 whatever r says; NIR's forward-Euler "
    "readers (snntorch, spikingjelly) then read beta = 1 - 1e-4/1.44 and a gain of 7e-5.",
    "lava-dl": "lava-dl 0.6.0 has no NIR writer: the suite's writer from its canonical state "
    "(the float weights; the fixed-point dynamics are lava-dl's, not the file's).",
}
"""Which framework writer :func:`export_nir` uses per backend, and why (sources named)."""

WRITERS = ("auto", "suite", "framework")

SINABS_CONVENTION = (
    "sinabs' writer: tau in time steps, alpha = exp(-1/tau), input gain 1 (norm_input=False) "
    "whatever r says; no dt"
)


@contextlib.contextmanager
def _quiet():
    """Route the frameworks' ``print`` warnings (snntorch's importer prints) to the log."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    text = buf.getvalue().strip()
    if text:
        log.debug("framework output: %s", text)


def _native_convs(arch: ConvNetSpec, conv_plans, state, bias: bool = False) -> list[nn.Conv2d]:
    out = []
    for layer, plan in zip(arch.convs, conv_plans, strict=True):
        conv = nn.Conv2d(plan.in_channels, plan.out_channels, layer.kernel_size, layer.stride,
                         layer.padding, bias=bias)
        with torch.no_grad():
            conv.weight.copy_(state[f"{layer.name}.weight"])
            if bias:
                conv.bias.zero_()
        out.append(conv)
    return out


def _native_linear(plan, state) -> nn.Linear:
    lin = nn.Linear(plan.in_features, plan.out_features, bias=False)
    with torch.no_grad():
        lin.weight.copy_(state[f"{plan.name}.weight"])
    return lin


def _sequential(arch, conv_plans, dense_plans, state, make_neuron) -> nn.Sequential:
    mods: list[nn.Module] = []
    for conv, plan in zip(_native_convs(arch, conv_plans, state), conv_plans, strict=True):
        mods += [conv, make_neuron((plan.out_channels, *plan.out_hw))]
    mods.append(nn.Flatten())
    for plan in dense_plans:
        mods.append(_native_linear(plan, state))
        if not plan.readout:
            mods.append(make_neuron((plan.out_features,)))
    return nn.Sequential(*mods)


def _write_snntorch(arch, input_shape, num_classes, state, dt) -> Any:
    if dt != NIR_DT:
        raise NIRExportError(f"snntorch's writer fixes dt = {NIR_DT} s; got dt={dt}")
    if arch.neuron.decay == 1.0:
        raise NIRExportError(
            "snntorch's writer writes Leaky(beta=1) as LIF with tau = dt/(1-beta) = inf; "
            "use writer='suite' for IF neurons"
        )
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    made = []

    def make(shape):
        lif = snn.Leaky(
            beta=torch.full(shape, float(arch.neuron.beta)),
            threshold=torch.full(shape, float(arch.neuron.threshold)),
            init_hidden=True, reset_mechanism="zero", reset_delay=False,
        )
        made.append(lif)
        return lif

    conv_plans, dense_plans = _plans(arch, input_shape, num_classes)
    net = _sequential(arch, conv_plans, dense_plans, state, make)
    try:
        with _quiet(), torch.no_grad():
            graph = export_to_nir(net, torch.zeros(1, *input_shape[1:]), ignore_dims=[0])
    finally:
        _forget_snntorch_instances(made)
    return graph


def _forget_snntorch_instances(mods) -> None:
    """snntorch keeps every neuron in the class list ``SpikingNeuron.instances`` (for
    ``init_hidden``); drop ours so they can be freed (as backends/snntorch_backend.py does)."""
    try:
        import snntorch as snn
    except Exception:
        return
    ids = {id(m) for m in mods}
    inst = snn.SpikingNeuron.instances
    for i in range(len(inst) - 1, -1, -1):
        if id(inst[i]) in ids:
            del inst[i]


def _write_spikingjelly(arch, input_shape, num_classes, state, dt) -> Any:
    from spikingjelly.activation_based import neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    beta, thr = float(arch.neuron.decay), float(arch.neuron.threshold)

    def make(shape):
        if beta == 1.0:
            return neuron.IFNode(v_threshold=thr, v_reset=0.0, step_mode="s")
        return neuron.LIFNode(tau=1.0 / (1.0 - beta), decay_input=False, v_threshold=thr,
                              v_reset=0.0, step_mode="s")

    conv_plans, dense_plans = _plans(arch, input_shape, num_classes)
    net = _sequential(arch, conv_plans, dense_plans, state, make)
    with _quiet(), torch.no_grad():
        return export_to_nir(net, torch.zeros(1, *input_shape[1:]), dt=dt)


def _write_sinabs(arch, input_shape, num_classes, state, dt) -> Any:
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    beta, thr = float(arch.neuron.decay), float(arch.neuron.threshold)

    def make(shape):
        kw = dict(spike_threshold=thr, spike_fn=SingleSpike, reset_fn=MembraneReset(),
                  batch_size=1)
        if beta == 1.0:
            return sl.IAFSqueeze(**kw)
        return sl.LIFSqueeze(tau_mem=-1.0 / math.log(beta), norm_input=False, **kw)

    conv_plans, dense_plans = _plans(arch, input_shape, num_classes)
    net = _sequential(arch, conv_plans, dense_plans, state, make)
    sample = torch.zeros(1, *input_shape[1:])
    with _quiet(), torch.no_grad():
        net(sample)  # sinabs' writer reads the neuron shapes from the state of one pass
        graph = sinabs.to_nir(net, sample)
    # sinabs' writer leaves torch tensors and 0-d arrays in the nodes and the Conv2d input
    # shapes and Flatten's input type None, which nir.write cannot serialise (h5py: "One of
    # data, shape or dtype must be specified", "Scalar datasets don't support chunk/filter
    # options"): 1-d numpy arrays, and the shapes stated from the plan
    nir = _import_nir()
    hw = [tuple(input_shape[2:])] + [p.out_hw for p in conv_plans]
    last = (conv_plans[-1].out_channels, *conv_plans[-1].out_hw)
    n_conv = 0
    for key, node in list(graph.nodes.items()):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name, None)
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            if isinstance(value, np.ndarray) and value.ndim == 0:  # gzip needs >= 1 dim
                value = value.reshape(1)
            if isinstance(value, np.ndarray):
                setattr(node, f.name, value)
        if isinstance(node, nir.Conv2d):
            if node.input_shape is None:
                node.input_shape = hw[n_conv]
            n_conv += 1
        if isinstance(node, nir.Flatten) and node.input_type.get("input") is None:
            graph.nodes[key] = nir.Flatten(input_type={"input": np.array(last)},
                                           start_dim=node.start_dim, end_dim=node.end_dim)
    return graph


def _write_norse(arch, input_shape, num_classes, state, dt) -> Any:
    raise NIRExportError(f"norse's NIR writer cannot write {arch.name}: "
                         + FRAMEWORK_WRITER_NOTES["norse"])


_FRAMEWORK_WRITERS = {
    "snntorch": _write_snntorch,
    "spikingjelly": _write_spikingjelly,
    "sinabs": _write_sinabs,
    "norse": _write_norse,
}
_AUTO_FRAMEWORK_WRITERS = ("snntorch", "spikingjelly")


def build_graph(
    arch: ConvNetSpec,
    input_shape: tuple[int, int, int, int],
    num_classes: int,
    state: Mapping[str, torch.Tensor],
    *,
    writer: str = "suite",
    dt: float = NIR_DT,
) -> Any:
    """The ``nir.NIRGraph`` of ``arch`` with the weights ``state``, written by ``writer``:
    ``"suite"`` (:func:`graph_from_state`) or a framework name (``"snntorch"``,
    ``"spikingjelly"``, ``"sinabs"``; ``"norse"`` raises with the reason, see
    :data:`FRAMEWORK_WRITER_NOTES`). No metadata (see :func:`export_nir`).

    Raises:
        NIRExportError: ``arch`` is not expressible, or the writer cannot write it.
        ValueError: unknown ``writer``.
    """
    check_exportable(arch)
    if writer == "suite":
        return graph_from_state(arch, input_shape, num_classes, state, dt=dt)
    if writer not in _FRAMEWORK_WRITERS:
        raise ValueError(
            f"writer: expected 'suite' or one of {sorted(_FRAMEWORK_WRITERS)}, got {writer!r}"
        )
    return _FRAMEWORK_WRITERS[writer](arch, tuple(input_shape), num_classes, state, dt)


def _resolve_writer(backend_name: str, writer: str, arch: ConvNetSpec) -> str:
    if writer not in WRITERS and writer not in _FRAMEWORK_WRITERS:
        raise ValueError(
            f"writer: expected one of {WRITERS} or a framework name, got {writer!r}"
        )
    if writer == "framework":
        if backend_name not in _FRAMEWORK_WRITERS:
            raise NIRExportError(
                f"backend {backend_name!r} has no NIR writer: "
                + FRAMEWORK_WRITER_NOTES.get(backend_name, "not a framework with NIR support")
            )
        return backend_name
    if writer == "auto":
        if backend_name == "snntorch" and arch.neuron.decay == 1.0:
            return "suite"
        return backend_name if backend_name in _AUTO_FRAMEWORK_WRITERS else "suite"
    return writer


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


@dataclass
class ModelSource:
    """What an export needs of a trained model: its backend name, spec, input shape, class
    names and canonical state (see :func:`resolve_source`)."""

    backend: str
    arch: Any
    input_shape: tuple[int, int, int, int]
    num_classes: int
    classes: list[str] | None
    state: dict[str, torch.Tensor]
    model: nn.Module
    checkpoint: dict[str, Any] | None = None


def resolve_source(
    checkpoint_or_model: Any,
    backend_name: str | None = None,
    arch: Any = None,
    *,
    input_shape: tuple[int, int, int, int] | None = None,
    classes: list[str] | None = None,
) -> ModelSource:
    """Normalise an export's input: a loaded checkpoint (any object with ``.checkpoint`` and
    ``.model``, e.g. :class:`benchmarks.checkpoints.LoadedModel`: load a checkpoint *file* with
    :func:`benchmarks.checkpoints.load_checkpoint` first, as ``run_bench.py export`` does; this
    module is below the benchmarks layer), or a compiled model with ``backend_name`` and ``arch``
    (a spec or a registered name).

    Raises:
        NIRExportError: a path (load it first), a model without ``backend_name`` / ``arch``, or
            the checkpoint's backend or architecture disagrees with the ones given.
    """
    ckpt = None
    if isinstance(checkpoint_or_model, (str, Path)):
        raise NIRExportError(
            f"{checkpoint_or_model}: load the checkpoint first "
            "(benchmarks.checkpoints.load_checkpoint), then export the loaded model")
    if hasattr(checkpoint_or_model, "checkpoint") and hasattr(checkpoint_or_model, "model"):
        ckpt = checkpoint_or_model.checkpoint
        for given, key in ((backend_name, "backend"), (arch if isinstance(arch, str) else
                           getattr(arch, "name", None), "arch")):
            if given is not None and given != ckpt[key]:
                raise NIRExportError(
                    f"{checkpoint_or_model.path}: checkpoint {key} is {ckpt[key]!r}, "
                    f"not {given!r}"
                )
        backend_name = ckpt["backend"]
        arch = get_arch(ckpt["arch"]) if arch is None or isinstance(arch, str) else arch
        input_shape = tuple(ckpt["input_shape"])
        classes = list(ckpt["classes"])
        model = checkpoint_or_model.model
    else:
        model = checkpoint_or_model
        if backend_name is None or arch is None:
            raise NIRExportError("export of a model: pass backend_name and arch")
        if isinstance(arch, str):
            arch = get_arch(arch)
    if input_shape is None:
        input_shape = tuple(getattr(model, "input_shape", ()))
    if len(input_shape) != 4:
        raise NIRExportError(f"input_shape: expected (T, 2, H, W), got {input_shape!r}")
    num_classes = int(getattr(model, "num_classes", 0) or (len(classes) if classes else 0))
    if classes is not None and len(classes) != num_classes:
        raise NIRExportError(
            f"classes: {len(classes)} names for a model with {num_classes} outputs"
        )
    state = canonical_state(model)
    return ModelSource(backend_name, arch, tuple(int(v) for v in input_shape), num_classes,
                       classes, state, model, ckpt)


def export_nir(
    checkpoint_or_model: Any,
    backend_name: str | None = None,
    arch: Any = None,
    path: str | Path = "model.nir",
    *,
    writer: str = "auto",
    dt: float = NIR_DT,
    classes: list[str] | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a trained SNN as a ``.nir`` file (``nir.write``, HDF5).

    Args:
        checkpoint_or_model: a checkpoint path, a :class:`benchmarks.checkpoints.LoadedModel`,
            or a compiled model (then ``backend_name`` and ``arch`` are required).
        backend_name: the backend that compiled the model (checked against a checkpoint's).
        arch: its spec or registered name.
        path: the file to write (parent folders are created).
        writer: ``"auto"`` (the backend's framework writer where it writes the model faithfully:
            snntorch, spikingjelly; else the suite's; :data:`FRAMEWORK_WRITER_NOTES`),
            ``"suite"`` (always the suite's, :func:`graph_from_state`), ``"framework"`` (the
            backend's framework writer, also where it is not faithful: sinabs) or a framework
            name.
        dt: seconds per time step stated in the file (snntorch's writer requires 1e-4).
        classes: class names (a checkpoint brings its own).
        extra_metadata: more entries for the suite's metadata (e.g. the binner).

    Returns:
        The path written.

    Raises:
        NIRExportError: the architecture has a node NIR lacks (max pooling, batch norm,
            subtractive reset, residual/two-input specs: the message names it), the backend is
            not spiking (``ann``), or the chosen writer cannot write it.
        FileNotFoundError, benchmarks.checkpoints.CheckpointError: an unreadable checkpoint.
    """
    nir = _import_nir()
    src = resolve_source(checkpoint_or_model, backend_name, arch, classes=classes)
    if src.backend == "ann":
        raise NIRExportError("backend 'ann' is not spiking: NIR export is for SNN models "
                             "(NIR 1.0.8 has no ReLU node)")
    check_exportable(src.arch)
    chosen = _resolve_writer(src.backend, writer, src.arch)
    graph = build_graph(src.arch, src.input_shape, src.num_classes, src.state, writer=chosen,
                        dt=dt)
    extra = {"exported_from_backend": src.backend}
    if src.classes is not None:
        extra["classes"] = list(src.classes)
    if src.checkpoint is not None:
        extra["binner"] = src.checkpoint.get("binner") or {}
        extra["sensor_size"] = src.checkpoint.get("sensor_size")
        extra["cell_id"] = src.checkpoint.get("cell_id")
        extra["cell"] = src.checkpoint.get("cell") or {}
    extra.update(dict(extra_metadata or {}))
    if chosen == "sinabs":  # sinabs' writer states no dt (see FRAMEWORK_WRITER_NOTES)
        extra["discretisation"] = SINABS_CONVENTION
    meta = _suite_metadata(src.arch, src.input_shape, src.num_classes,
                           None if chosen == "sinabs" else dt, chosen, extra)
    graph.metadata = {METADATA_KEY: json.dumps(meta, sort_keys=True)}
    if chosen != "sinabs":
        graph.metadata["dt_s"] = float(dt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(path, graph)
    log.info("wrote %s (%s/%s, writer %s, dt %g s)", path, src.backend, src.arch.name, chosen, dt)
    return path


def export_lava_hdf5(
    checkpoint_or_model: Any,
    backend_name: str | None = None,
    arch: Any = None,
    path: str | Path = "model.net",
) -> Path:
    """Write a trained ConvNetSpec model in lava-dl's own HDF5 network format
    (:func:`backends.lava_dl.export_hdf5`), whatever backend trained it: the weights go to a
    lava-dl model through the canonical state, which runs one forward pass (SLAYER sets its
    neuron shapes there) and exports.

    Raises:
        NIRExportError: lava-dl is unavailable, or it cannot compile or write the model (batch
            norm, residual connections, a subtractive reset: lava-dl's reason).
        FileNotFoundError, benchmarks.checkpoints.CheckpointError: an unreadable checkpoint.
    """
    from backends.base import get_backend

    src = resolve_source(checkpoint_or_model, backend_name, arch)
    lava = get_backend("lava-dl")
    ok, why = lava.available()
    if not ok:
        raise NIRExportError(f"lava-hdf5 export needs lava-dl: {why}")
    try:
        model = lava.build(src.arch, src.input_shape, src.num_classes)
        load_canonical_state(model, src.state)
        with torch.no_grad():
            lava.forward(model.eval(), torch.zeros(1, *src.input_shape))
        from backends.lava_dl import export_hdf5

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return export_hdf5(model, path)
    except (ValueError, KeyError) as exc:
        raise NIRExportError(f"lava-hdf5 export of {src.backend}/{src.arch.name}: {exc}") from exc


def import_lava_hdf5(path: str | Path, backend_name: str) -> nn.Module:
    """Compile a file written by :func:`export_lava_hdf5` (lava-dl's network format) into any
    backend: lava-dl's importer via the canonical state (lava-dl 0.6.0 has no NIR reader).

    Read back (lava-dl's ``block.export_hdf5`` layout, ``backends/lava_dl.py: export_hdf5``):
    per layer group ``layer/{i}`` its ``type`` (conv, flatten, dense), geometry, ``weight`` in
    SLAYER's integer units (``weight * scale``, ``scale`` = 64: divided back exactly, a power of
    two) and the CUBA neuron (``vThMant = threshold * scale``, ``vDecay = 4096 (1 - beta)``,
    ``iDecay`` must be 4096: current decay 1). The file's ``arch`` and ``input_shape_TCHW``
    attributes name the spec.

    Raises:
        FileNotFoundError: no such file.
        NIRImportError: not such a file, a layer type or neuron this reader does not know, max
            pooling (``max_pool`` > 0: the suite compiles it, but the spec's layout must match
            the registered one) or a backend that cannot compile the spec.
    """
    import h5py

    from backends.base import get_backend
    from backends.lava_dl import SLAYER_P_SCALE, SLAYER_W_SCALE

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such lava-dl network file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise NIRImportError(f"{path}: not a lava-dl network file (not HDF5: {exc})") from exc
    with f:
        if "layer" not in f or "input_shape_TCHW" not in f.attrs:
            raise NIRImportError(f"{path}: not written by export_lava_hdf5 (no 'layer' group or "
                                 "'input_shape_TCHW' attribute)")
        shape = tuple(int(v) for v in f.attrs["input_shape_TCHW"])
        name = str(f.attrs.get("arch", "lava_import"))
        convs, denses, state, neurons = [], [], {}, []
        groups = [f["layer"][k] for k in sorted(f["layer"], key=int)]
        for i, g in enumerate(groups):
            kind = g["type"][()]
            kind = (kind[0] if np.ndim(kind) else kind)
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            lname = str(g.attrs.get("name", f"layer{i}"))
            pool = int(g.attrs.get("max_pool", 0))
            if kind == "flatten":
                continue
            if kind not in ("conv", "dense"):
                raise NIRImportError(f"{path}: layer {lname!r}: type {kind!r} is not read here "
                                     "(conv, flatten, dense)")
            w = np.asarray(g["weight"][()], dtype=np.float32) / np.float32(SLAYER_W_SCALE)
            state[f"{lname}.weight"] = torch.from_numpy(np.ascontiguousarray(w))
            if "neuron" in g:
                n = g["neuron"]
                if int(n["iDecay"][()]) != SLAYER_P_SCALE:
                    raise NIRImportError(f"{path}: layer {lname!r}: iDecay {int(n['iDecay'][()])}"
                                         f" (current decay < 1): the canonical neuron has none")
                neurons.append((1.0 - int(n["vDecay"][()]) / SLAYER_P_SCALE,
                                int(n["vThMant"][()]) / SLAYER_W_SCALE))
            if kind == "conv":
                k = np.asarray(g["kernelSize"][()]).ravel()
                convs.append(ConvLayer(lname, int(g["outChannels"][()]), int(k[0]),
                                       stride=int(np.asarray(g["stride"][()]).ravel()[0]),
                                       padding=int(np.asarray(g["padding"][()]).ravel()[0]),
                                       pool=pool or None))
            else:
                last = i == len(groups) - 1
                denses.append(DenseLayer(lname, 0 if last else int(g["outFeatures"][()])))
    if not neurons or len(set(neurons)) != 1:
        raise NIRImportError(f"{path}: expected one CUBA neuron for all hidden layers, got "
                             f"{sorted(set(neurons))}")
    beta, thr = neurons[0]
    neuron = NeuronSpec(model="if" if beta == 1.0 else "lif", beta=beta if beta < 1 else 0.5,
                        threshold=thr, reset="zero")
    if name in arch_names() and isinstance(get_arch(name), ConvNetSpec):
        neuron = dataclasses.replace(get_arch(name).neuron, beta=neuron.beta,
                                     threshold=neuron.threshold, model=neuron.model)
    arch = _registered_twin(ConvNetSpec(name=name, input_size=shape[2:], n_time_bins=shape[0],
                                        convs=tuple(convs), denses=tuple(denses), neuron=neuron))
    num_classes = int(state[f"{denses[-1].name}.weight"].shape[0])
    backend = get_backend(backend_name)
    try:
        model = backend.build(arch, shape, num_classes)
    except ValueError as exc:
        raise NIRImportError(f"{path}: {backend_name} cannot compile {arch.name}: {exc}") from exc
    load_canonical_state(model, state)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def _known_nir_types() -> set[str]:
    nir = _import_nir()
    return {n for n in dir(nir) if isinstance(getattr(nir, n), type)
            and issubclass(getattr(nir, n), nir.NIRNode) and n != "NIRNode"}


def scan_nir_file(path: str | Path) -> tuple[str, dict[str, str]]:
    """The NIR version and node types of a ``.nir`` file, read with h5py (before ``nir.read``,
    which fails on an unknown node with a bare ``AssertionError``).

    Returns:
        ``(version, {node path: type})``; nested graphs' nodes as ``"outer/inner"``.

    Raises:
        FileNotFoundError: no such file.
        NIRImportError: not an HDF5 file written by ``nir.write`` (no ``version`` or ``node``).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NIR file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise NIRImportError(f"{path}: not a NIR file (not HDF5: {exc})") from exc
    with f:
        if "version" not in f or "node" not in f:
            raise NIRImportError(
                f"{path}: not a NIR file (no 'version' and 'node' entries, as nir.write writes)"
            )
        version = f["version"][()]
        version = version.decode("utf8") if isinstance(version, bytes) else str(version)
        types: dict[str, str] = {}

        def walk(group: Any, prefix: str) -> None:
            for name, node in group["nodes"].items():
                t = node["type"][()]
                t = t.decode("utf8") if isinstance(t, bytes) else str(t)
                key = f"{prefix}{name}"
                types[key] = t
                if t == "NIRGraph" and "nodes" in node:
                    walk(node, key + "/")

        root = f["node"]
        if "nodes" in root:
            walk(root, "")
    return version, types


def check_nir_version(version: str, path: str | Path = "<graph>") -> None:
    """Raise :class:`NIRVersionError` unless ``version`` is a NIR version not newer than the
    installed ``nir`` (compared as versions, not strings: ``1.0.10 > 1.0.8``).

    >>> check_nir_version("1.0.8")
    >>> check_nir_version("99.0")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    backends.nir_exchange.NIRVersionError: <graph>: written by NIR 99.0, newer than the ...
    """
    from packaging.version import InvalidVersion, Version

    installed = nir_versions()["nir"]
    try:
        v = Version(version)
    except InvalidVersion:
        raise NIRVersionError(f"{path}: unknown NIR version {version!r}") from None
    if v > Version(installed):
        raise NIRVersionError(
            f"{path}: written by NIR {version}, newer than the installed nir {installed}; "
            "upgrade nir to read it"
        )


def read_nir(path: str | Path, *, supported: tuple[str, ...] | None = SUITE_NODES) -> Any:
    """Read a ``.nir`` file after checking its version and node types.

    Args:
        supported: node types the caller can compile (default: the suite's reader's); ``None``
            accepts every node type of the installed nir.

    Raises:
        FileNotFoundError: no such file.
        NIRVersionError: an unknown or newer NIR version.
        UnsupportedNodeError: a node type unknown to the installed nir, or not in ``supported``
            (the message names the node, its type and why).
        NIRImportError: ``nir.read`` fails on the file.
    """
    nir = _import_nir()
    version, types = scan_nir_file(path)
    check_nir_version(version, path)
    known = _known_nir_types()
    for name, t in types.items():
        if t not in known:
            raise UnsupportedNodeError(
                f"{path}: node {name!r} has type {t!r}, not a node type of the installed nir "
                f"{nir_versions()['nir']} (a newer NIR?)", name, t,
            )
        if supported is not None and t not in supported:
            why = NODE_UNSUPPORTED.get(t, "not compiled by this reader")
            raise UnsupportedNodeError(f"{path}: node {name!r} ({t}): {why}", name, t)
    try:
        return nir.read(path)
    except Exception as exc:
        log.debug("nir.read(%s) with type checks failed: %r", path, exc)
    try:  # sinabs' and norse's writers leave 0-d neuron types that the type check rejects
        graph = nir.read(path, type_check=False)
    except Exception as exc:
        raise NIRImportError(f"{path}: nir.read failed: {type(exc).__name__}: {exc}") from exc
    log.info("%s: read without nir's type check (its node types do not infer)", path)
    return graph


def graph_metadata(graph: Any) -> dict[str, Any]:
    """The suite's metadata of a graph written by :func:`export_nir` (``{}`` for another
    writer's graph)."""
    meta = getattr(graph, "metadata", None) or {}
    raw = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf8")
    try:
        out = json.loads(str(raw))
    except json.JSONDecodeError:
        log.warning("graph metadata %r is not JSON; ignored", METADATA_KEY)
        return {}
    return out if isinstance(out, dict) else {}


@dataclass
class ChainLayer:
    """One spec layer recovered from a graph: its synapse node and neuron node (None for the
    readout)."""

    name: str
    kind: str  # "conv" | "linear"
    synapse: str
    neuron: str | None


@dataclass
class RecoveredModel:
    """What :func:`spec_from_graph` recovers from a NIR graph.

    Attributes:
        arch: the ConvNetSpec (the registered one when the graph matches it); None for the
            layout a framework reader's runner gets of a graph the suite cannot compile.
        input_shape: ``(T, 2, H, W)``; num_classes: ``K``.
        state: canonical state (:func:`canonical_state` keys).
        layers: the chain of layers, node names included.
        dt: the time step used to read the neurons (s); gain: the input gain per step.
        metadata: the suite's metadata (``{}`` if none).
    """

    arch: ConvNetSpec | None
    input_shape: tuple[int, int, int, int]
    num_classes: int
    state: dict[str, torch.Tensor]
    layers: list[ChainLayer]
    dt: float
    gain: float
    metadata: dict[str, Any]


def _pair(v: Any, name: str, field: str, kind: str) -> int:
    arr = np.atleast_1d(np.asarray(v)).astype(np.int64).ravel()
    if arr.size == 0 or not np.all(arr == arr[0]):
        raise UnsupportedNodeError(
            f"node {name!r} ({kind}): {field}={v!r}: the suite's convs are square", name, kind
        )
    return int(arr[0])


def _chain(graph: Any, where: str) -> list[str]:
    """Node names from the Input to the Output (a chain; a branch is refused)."""
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    nir = _import_nir()
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise NIRImportError(f"{where}: expected one Input node, got {inputs}")
    order, cur, seen = [], inputs[0], set()
    while True:
        order.append(cur)
        seen.add(cur)
        nxt = succ.get(cur, [])
        if not nxt:
            break
        if len(nxt) > 1:
            raise UnsupportedNodeError(
                f"{where}: node {cur!r} feeds {sorted(nxt)}: the suite's ConvNetSpec is a chain "
                "(no branches or residual connections)", cur, type(graph.nodes[cur]).__name__,
            )
        cur = nxt[0]
        if cur in seen:
            raise UnsupportedNodeError(f"{where}: node {cur!r} closes a cycle (recurrence)",
                                       cur, type(graph.nodes[cur]).__name__)
    if not isinstance(graph.nodes[order[-1]], nir.Output):
        raise NIRImportError(f"{where}: the chain from the Input ends at {order[-1]!r}, "
                             "not an Output node")
    missing = sorted(set(graph.nodes) - seen)
    if missing:
        raise NIRImportError(f"{where}: nodes {missing} are not on the Input -> Output chain")
    return order


def spec_from_graph(
    graph: Any,
    *,
    n_time_bins: int | None = None,
    dt: float | None = None,
    where: str = "<graph>",
) -> RecoveredModel:
    """The suite's NIR reader: recover a ConvNetSpec and its canonical state from a graph.

    The chain Input -> (Conv2d -> LIF/IF)* -> Flatten -> (Linear/Affine -> LIF/IF)* ->
    Linear/Affine -> Output becomes conv layers, dense layers and the readout. Layer names come
    from the suite's metadata if present, else ``conv{i}`` / ``fc{i}`` (``fc`` for the readout).
    The time step is ``dt`` if given, else the file's (metadata ``dt_s``), else :data:`NIR_DT`
    (logged). Neurons: :func:`neuron_from_nir`; the surrogate (not in NIR) comes from the
    metadata, else ATan(2). If the recovered layout equals a registered spec (the metadata's
    ``arch``), that spec is returned.

    Args:
        n_time_bins: ``T`` (NIR graphs have no time axis); default: the metadata's.

    Raises:
        UnsupportedNodeError: a node type outside :data:`SUITE_NODES`, a conv with bias,
            groups, dilation or non-square kernel, an Affine with a non-zero bias, a branch, or
            neurons that differ between layers.
        NIRImportError: no ``n_time_bins`` anywhere, or a malformed chain.
    """
    meta = graph_metadata(graph)
    if dt is None:
        dt = meta.get("dt_s")
        if dt is None and isinstance(getattr(graph, "metadata", None), dict):
            dt = graph.metadata.get("dt_s")
        if dt is None:
            log.info("%s: the graph states no time step; reading it at dt = %g s", where, NIR_DT)
            dt = NIR_DT
    dt = float(np.asarray(dt).ravel()[0])
    t = n_time_bins if n_time_bins is not None else meta.get("n_time_bins")
    if t is None:
        raise NIRImportError(
            f"{where}: the graph does not state n_time_bins (NIR graphs have no time axis); "
            "pass n_time_bins="
        )
    order = _chain(graph, where)
    body = order[1:-1]
    for name in body:
        kind = type(graph.nodes[name]).__name__
        if kind not in SUITE_NODES:
            raise UnsupportedNodeError(
                f"{where}: node {name!r} ({kind}): "
                + NODE_UNSUPPORTED.get(kind, "not compiled by the suite's reader"), name, kind,
            )
    inp = graph.nodes[order[0]]
    in_shape = np.asarray(inp.input_type["input"]).astype(int).ravel().tolist()
    if len(in_shape) != 3:
        raise NIRImportError(f"{where}: Input shape {in_shape}: expected (2, H, W)")
    c, h, w = in_shape
    convs: list[ConvLayer] = []
    denses: list[DenseLayer] = []
    weights: list[tuple[str, np.ndarray]] = []
    chain: list[tuple[str, str, str | None]] = []  # (kind, synapse node, neuron node)
    neurons: list[tuple[str, Any]] = []
    i, flat = 0, False
    while i < len(body):
        name = body[i]
        node = graph.nodes[name]
        kind = type(node).__name__
        nxt = body[i + 1] if i + 1 < len(body) else None
        nxt_kind = type(graph.nodes[nxt]).__name__ if nxt is not None else "Output"
        if kind == "Conv2d":
            if flat:
                raise UnsupportedNodeError(f"{where}: node {name!r} (Conv2d) after the Flatten",
                                           name, kind)
            wt = np.asarray(node.weight)
            if wt.ndim != 4 or wt.shape[2] != wt.shape[3]:
                raise UnsupportedNodeError(
                    f"{where}: node {name!r} (Conv2d): kernel {wt.shape[2:]}, the suite's convs "
                    "are square", name, kind)
            if _pair(node.groups, name, "groups", kind) != 1:
                raise UnsupportedNodeError(f"{where}: node {name!r} (Conv2d): grouped", name, kind)
            if _pair(node.dilation, name, "dilation", kind) != 1:
                raise UnsupportedNodeError(f"{where}: node {name!r} (Conv2d): dilated", name, kind)
            if isinstance(node.padding, str):
                raise UnsupportedNodeError(
                    f"{where}: node {name!r} (Conv2d): padding {node.padding!r}; the suite's "
                    "convs take integer padding", name, kind)
            bias = np.asarray(node.bias)
            if bias.size and np.any(bias != 0):
                raise UnsupportedNodeError(
                    f"{where}: node {name!r} (Conv2d): non-zero bias; the suite's specs have no "
                    "biases", name, kind)
            if nxt_kind not in ("LIF", "IF"):
                raise UnsupportedNodeError(
                    f"{where}: node {name!r} (Conv2d) is followed by {nxt_kind}, not a LIF/IF "
                    "neuron", name, kind)
            convs.append(ConvLayer(
                f"conv{len(convs) + 1}", int(wt.shape[0]), int(wt.shape[2]),
                stride=_pair(node.stride, name, "stride", kind),
                padding=_pair(node.padding, name, "padding", kind)))
            weights.append(("conv", wt))
            chain.append(("conv", name, nxt))
            neurons.append((nxt, graph.nodes[nxt]))
            i += 2
        elif kind == "Flatten":
            flat = True
            i += 1
        elif kind in ("Linear", "Affine"):
            if not flat and convs:
                raise UnsupportedNodeError(f"{where}: node {name!r} ({kind}) before a Flatten",
                                           name, kind)
            wt = np.asarray(node.weight)
            if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
                raise UnsupportedNodeError(
                    f"{where}: node {name!r} (Affine): non-zero bias; the suite's specs have no "
                    "biases", name, kind)
            if nxt_kind in ("LIF", "IF"):
                denses.append(DenseLayer(f"fc{len(denses) + 1}", int(wt.shape[0])))
                chain.append(("linear", name, nxt))
                neurons.append((nxt, graph.nodes[nxt]))
                i += 2
            elif nxt is None:
                denses.append(DenseLayer("fc", 0))
                chain.append(("linear", name, None))
                i += 1
            else:
                raise UnsupportedNodeError(
                    f"{where}: node {name!r} ({kind}) is followed by {nxt_kind}", name, kind)
            weights.append(("linear", wt))
        elif kind in ("LIF", "IF"):
            raise UnsupportedNodeError(
                f"{where}: node {name!r} ({kind}) does not follow a Conv2d/Linear", name, kind)
        else:  # Input/Output inside the chain
            raise NIRImportError(f"{where}: unexpected {kind} node {name!r} inside the chain")
    if not denses or chain[-1][2] is not None:
        raise NIRImportError(f"{where}: the graph does not end with a Linear/Affine readout")
    if not neurons:
        raise NIRImportError(f"{where}: the graph has no LIF/IF neuron")
    specs = []
    gain = 1.0
    for name, node in neurons:
        spec, gain = neuron_from_nir(node, name, dt)
        specs.append((name, spec))
    first = specs[0][1]
    for name, spec in specs[1:]:
        if (spec.model, spec.beta, spec.threshold) != (first.model, first.beta, first.threshold):
            raise UnsupportedNodeError(
                f"{where}: node {name!r}: neuron {spec} differs from {specs[0][0]!r}'s {first}; "
                "a ConvNetSpec has one neuron for all layers",
                name, type(graph.nodes[name]).__name__)
    neuron = first
    mn = meta.get("neuron") or {}
    if mn:
        same = (mn.get("model") == neuron.model and mn.get("reset") == "zero"
                and _close(float(mn.get("threshold", -1)), neuron.threshold)
                and (neuron.model == "if" or _close(float(mn.get("beta", -1)), neuron.beta)))
        if same:  # the exact values of the spec the file was written from, and its surrogate
            neuron = NeuronSpec(**{k: mn[k] for k in
                                   ("model", "threshold", "beta", "reset", "surrogate",
                                    "surrogate_alpha") if k in mn})
        else:
            log.warning("%s: the metadata's neuron %s disagrees with the nodes' %s; using the "
                        "nodes'", where, mn, neuron)
    names = meta.get("layers")
    if isinstance(names, list) and len(names) == len(convs) + len(denses):
        convs = [dataclasses.replace(cl, name=n) for cl, n in zip(convs, names, strict=False)]
        denses = [dataclasses.replace(d, name=n)
                  for d, n in zip(denses, names[len(convs):], strict=True)]
    k = int(np.asarray(weights[-1][1]).shape[0])
    denses[-1] = dataclasses.replace(denses[-1], out_features=0)
    arch = ConvNetSpec(
        name=str(meta.get("arch", "nir_import")), input_size=(int(h), int(w)),
        n_time_bins=int(t), convs=tuple(convs), denses=tuple(denses), neuron=neuron,
        ann_input="per_step",
    )
    arch = _registered_twin(arch)
    layer_names = [cl.name for cl in arch.convs] + [d.name for d in arch.denses]
    state = {f"{n}.weight": torch.from_numpy(np.ascontiguousarray(wt, dtype=np.float32))
             for n, (_, wt) in zip(layer_names, weights, strict=True)}
    layers = [ChainLayer(n, kind, syn, neu)
              for n, (kind, syn, neu) in zip(layer_names, chain, strict=True)]
    return RecoveredModel(arch, (int(t), int(c), int(h), int(w)), k, state, layers, dt, gain,
                          meta)


def _registered_twin(arch: ConvNetSpec) -> ConvNetSpec:
    """The registered spec named ``arch.name`` if it has the same layout and neuron dynamics,
    else ``arch`` (renamed ``<name>-nir`` when the name is registered but differs)."""
    if arch.name not in arch_names():
        return arch
    reg = get_arch(arch.name)

    def key(a: Any) -> Any:
        if not isinstance(a, ConvNetSpec):
            return None
        n = a.neuron
        return (tuple(a.input_size), a.n_time_bins,
                tuple((c.out_channels, c.kernel_size, c.stride, c.padding, c.batch_norm, c.pool)
                      for c in a.convs),
                tuple(d.out_features for d in a.denses[:-1]), n.model, n.threshold,
                n.decay, n.reset)

    if key(reg) == key(arch):
        return reg
    log.warning("graph describes %r but differs from the registered spec; imported as %r",
                arch.name, f"{arch.name}-nir")
    return dataclasses.replace(arch, name=f"{arch.name}-nir")


# ---------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------

READERS = ("suite", "framework")

FRAMEWORK_READER_NOTES: dict[str, str] = {
    "snntorch": "snntorch 1.0.0 import_from_nir: Leaky(beta = 1 - 1e-4/tau, reset 'zero', "
    "reset_delay=False, init_hidden=True) with dt fixed at 1e-4 s (a file at another dt is "
    "misread); fires on v > thr (its ATan's forward); LIF thresholds divided by r*dt/tau "
    "('hack_w_scale'); IF must have r = 1; AvgPool2d as torch's, SumPool2d through nirtorch's "
    "default map (LPPool2d(norm_type=1), no padding); its Flatten keeps NIR's start_dim 0 and so "
    "flattens the batch axis: run one sample at a time.",
    "spikingjelly": "spikingjelly 2.0.0 nir_exchange.import_from_nir(dt): LIFNode(tau/dt, "
    "decay_input = (r == 1), v_reset) requires r = 1 or tau/dt; IFNode requires r = 1/dt; fires "
    "on v >= thr; AvgPool2d as its layer.AvgPool2d, SumPool2d through nirtorch's default map "
    "(LPPool2d(norm_type=1)).",
    "norse": "norse 1.1.0 from_nir(dt): LIFBoxCell(tau_mem_inv = 1/tau, dt) ignores r (logs a "
    "warning; input gain dt/tau = 1 - beta instead of r*dt/tau); fires on v > thr; its Flatten "
    "keeps start_dim 0 (run one sample at a time); SumPool2d as LPPool2d(norm_type=1); it builds "
    "no module for AvgPool2d (or any node it does not map) and nirtorch's old GraphExecutor then "
    "feeds the next node from the graph's input.",
    "sinabs": "sinabs 3.1.3 from_nir: LIFSqueeze(tau_mem = tau as time steps: alpha = "
    "exp(-1/tau), norm_input=False) with sinabs' default MultiSpike and MembraneSubtract, "
    "ignoring r and v_reset; IAFSqueeze with min_v_mem = -thr; SumPool2d as sl.SumPool2d, no "
    "AvgPool2d; it fails on per-neuron LIF parameters of conv layers (any(node.v_leak) != 0 on "
    "a (C, H, W) array: 'truth value of an array ... is ambiguous').",
}
"""How each framework's own NIR reader interprets a graph (read from their sources)."""


def _reader_layout(graph: Any, n_time_bins: int | None, dt: float | None, where: str
                   ) -> RecoveredModel:
    """The little a framework reader's runner needs of a graph the suite cannot compile: ``T``,
    the Input and Output shapes, the time step, and the neuron nodes (named after themselves,
    in the graph's order); ``arch`` is None."""
    nir = _import_nir()
    meta = graph_metadata(graph)
    t = n_time_bins if n_time_bins is not None else meta.get("n_time_bins")
    if t is None:
        raise NIRImportError(f"{where}: the graph does not state n_time_bins; pass n_time_bins=")
    ins = [n for n in graph.nodes.values() if isinstance(n, nir.Input)]
    outs = [n for n in graph.nodes.values() if isinstance(n, nir.Output)]
    try:
        shape = [int(v) for v in np.asarray(ins[0].input_type["input"]).ravel()]
        k = int(np.prod(np.asarray(outs[0].output_type["output"])))
    except (IndexError, TypeError, ValueError) as exc:
        raise NIRImportError(f"{where}: no Input/Output node with a shape") from exc
    if dt is None:
        dt = meta.get("dt_s") or NIR_DT
    kinds = (nir.LIF, nir.IF, nir.CubaLIF)
    layers = [ChainLayer(name, "neuron", name, name) for name, node in graph.nodes.items()
              if isinstance(node, kinds)]
    return RecoveredModel(None, (int(t), *shape), k, {}, layers, float(dt), 1.0, meta)


def _neuron_types(framework: str) -> tuple[type, ...]:
    if framework == "snntorch":
        import snntorch as snn

        return (snn.SpikingNeuron,)
    if framework == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange.from_nir import _NIRStatefulModule

        return (_NIRStatefulModule,)
    if framework == "norse":
        from norse.torch.module.iaf import IAFCell
        from norse.torch.module.lif_box import LIFBoxCell

        return (LIFBoxCell, IAFCell)
    if framework == "sinabs":
        import sinabs.layers as sl

        return (sl.StatefulLayer,)
    raise ValueError(f"framework: expected one of {sorted(FRAMEWORK_READER_NOTES)}, got "
                     f"{framework!r}")


class FrameworkNIRModel(nn.Module):
    """A NIR graph compiled by a framework's own reader, run over time.

    ``forward(x)``: ``x`` ``(B, T, 2, H, W)`` float32 -> the output node's value per step
    ``(B, T, K)`` (the suite's readout: logits = mean over T). snntorch's and norse's readers are
    run one sample at a time (their Flatten flattens the batch axis,
    :data:`FRAMEWORK_READER_NOTES`), spikingjelly's and norse's with their state carried from
    step to step, sinabs' on the batch-major fold ``(B*T, ...)`` its ``*Squeeze`` layers take.
    After each forward, :attr:`last_spikes` holds every neuron layer's spikes keyed by the
    suite's spec layer names, time-major ``(T*B, ...)`` (the layout of
    :func:`backends.equality.layer_spikes`).

    Attributes:
        framework: the framework whose reader built ``net``.
        net: the reader's module.
        arch: the architecture recovered from the graph.
        input_shape: ``(T, 2, H, W)`` of one sample.
        num_classes: its number of classes.
        layers: its layers, as recovered from the graph.
    """

    spiking = False  # the wrapper itself is not a neuron layer (see backends.equality)
    time_folded = False

    def __init__(self, framework: str, graph: Any, recovered: RecoveredModel) -> None:
        super().__init__()
        self.framework = framework
        self.arch = recovered.arch
        self.input_shape = recovered.input_shape
        self.num_classes = recovered.num_classes
        self.layers = recovered.layers
        self.dt = recovered.dt
        self.last_spikes: dict[str, torch.Tensor] = {}
        try:
            self.net = self._read(graph)
        except Exception as exc:  # the framework's own errors: ValueError, AssertionError, ...
            raise NIRImportError(
                f"{framework}'s NIR reader cannot read the graph: {type(exc).__name__}: {exc}"
            ) from exc
        from nirtorch.utils import sanitize_name

        by_node = {sanitize_name(cl.neuron): cl.name for cl in self.layers if cl.neuron}
        self._neuron_names: dict[str, str] = {}
        for mod_name, mod in self.net.named_modules():
            if isinstance(mod, _neuron_types(framework)) and mod_name.split(".")[-1] in by_node:
                self._neuron_names[mod_name] = by_node[mod_name.split(".")[-1]]

    def _read(self, graph: Any) -> nn.Module:
        fw = self.framework
        with _quiet():
            if fw == "snntorch":
                import snntorch as snn
                from snntorch.import_nir import import_from_nir

                before = list(snn.SpikingNeuron.instances)
                net = import_from_nir(graph)
                _forget_snntorch_instances([m for m in snn.SpikingNeuron.instances
                                            if not any(m is b for b in before)])
                return net
            if fw == "spikingjelly":
                from spikingjelly.activation_based.nir_exchange import import_from_nir

                return import_from_nir(graph, dt=self.dt, step_mode="s")
            if fw == "norse":
                import norse.torch

                return norse.torch.from_nir(graph, dt=self.dt, ignore_warnings=True)
            if fw == "sinabs":
                import sinabs

                return sinabs.from_nir(graph, num_timesteps=self.input_shape[0])
        raise ValueError(f"framework: expected one of {sorted(FRAMEWORK_READER_NOTES)}, got "
                         f"{fw!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or tuple(x.shape[1:]) != tuple(self.input_shape):
            raise ValueError(f"x: expected (B, {', '.join(map(str, self.input_shape))}), got "
                             f"{tuple(x.shape)}")
        captured: dict[str, list[torch.Tensor]] = {n: [] for n in self._neuron_names.values()}
        hooks = []
        mods = dict(self.net.named_modules())
        for mod_name, layer in self._neuron_names.items():
            def hook(_m, _i, out, layer=layer):
                captured[layer].append((out[0] if isinstance(out, tuple) else out).detach())
            hooks.append(mods[mod_name].register_forward_hook(hook))
        b, t = x.shape[:2]
        try:
            with _quiet():
                out = self._run(x)
        finally:
            for hk in hooks:
                hk.remove()
        self.last_spikes = self._arrange(captured, b, t)
        return out

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        fw = self.framework
        if fw == "sinabs":
            self._reset_sinabs()
            y = self.net(x.reshape(b * t, *x.shape[2:]))
            y = y[0] if isinstance(y, tuple) else y
            return y.reshape(b, t, -1)
        if fw in ("snntorch", "norse"):  # one sample at a time (their Flatten, see above)
            outs = []
            for i in range(b):
                self._reset_snntorch()
                state, seq = None, []
                for s in range(t):
                    y, state = self.net(x[i, s], state) if fw == "norse" else self.net(x[i, s])
                    seq.append(y.reshape(-1))
                outs.append(torch.stack(seq))
            return torch.stack(outs)
        state, seq = None, []
        for s in range(t):
            y, state = self.net(x[:, s], state)
            seq.append(y.reshape(b, -1))
        return torch.stack(seq, dim=1)

    def _reset_snntorch(self) -> None:
        if self.framework != "snntorch":
            return
        for m in self.net.modules():
            if isinstance(getattr(m, "mem", None), torch.Tensor):
                m.mem = torch.zeros(0)

    def _reset_sinabs(self) -> None:
        for m in self.net.modules():
            if hasattr(m, "reset_states"):
                m.reset_states()

    def _arrange(self, captured: dict[str, list[torch.Tensor]], b: int, t: int
                 ) -> dict[str, torch.Tensor]:
        out = {}
        for layer, chunks in captured.items():
            if not chunks:
                continue
            if self.framework == "sinabs":  # one call on (B*T, ...), batch-major
                s = chunks[0].reshape(b, t, *chunks[0].shape[1:]).transpose(0, 1)
            elif self.framework in ("snntorch", "norse"):  # b*t calls on unbatched (...)
                s = torch.stack(chunks).reshape(b, t, *chunks[0].shape).transpose(0, 1)
            else:  # t calls on (B, ...)
                s = torch.stack(chunks)
            out[layer] = s.reshape(t * b, *s.shape[2:]).contiguous()
        return out


class NIRReaderBackend:
    """A Backend-like runner for :class:`FrameworkNIRModel` (``forward(model, x)`` ->
    :class:`backends.base.ForwardOutput`), so that :func:`benchmarks.inference.predict` and the
    predict command run a model read by a framework's own reader. No activity accounting
    (``record_activity=True`` raises: import with ``reader="suite"`` to measure)."""

    spiking = True
    equality = None

    def __init__(self, framework: str) -> None:
        self.name = f"{framework}-nir-reader"
        self.framework = framework

    def forward(self, model: FrameworkNIRModel, x: torch.Tensor, *, frames: Any = None,
                record_activity: bool = False) -> Any:
        from backends.base import ForwardOutput
        from backends.torch_blocks import readout

        if frames is not None:
            raise ValueError("frames: NIR models take events only")
        if record_activity:
            raise ValueError(
                "record_activity: a model compiled by a framework's NIR reader has no activity "
                "accounting; import it with reader='suite' (the backend's compiled model)"
            )
        per_step = model(x)
        logits, per_step_logits = readout(per_step, False)
        return ForwardOutput(logits=logits, logits_per_step=per_step_logits, activity=[],
                             batch_size=x.shape[0])

    def versions(self) -> dict[str, str]:
        return {self.framework: _dist_version(self.framework), **nir_versions(),
                "torch": torch.__version__}


def _frameworks_for_backend(backend_name: str) -> str:
    if backend_name not in FRAMEWORK_READER_NOTES:
        raise NIRImportError(
            f"backend {backend_name!r} has no framework NIR reader (frameworks with one: "
            f"{sorted(FRAMEWORK_READER_NOTES)}); use reader='suite'"
        )
    return backend_name


def import_nir(
    path_or_graph: Any,
    backend_name: str,
    *,
    reader: str = "suite",
    n_time_bins: int | None = None,
    dt: float | None = None,
) -> nn.Module:
    """Compile a NIR graph (a ``.nir`` path or a ``nir.NIRGraph``) into a backend.

    Args:
        backend_name: a registered backend (``snntorch``, ``spikingjelly``, ``norse``,
            ``sinabs``, ``lava-dl``).
        reader: ``"suite"`` (default): :func:`spec_from_graph`, then ``backend.build(spec, ...)``
            and :func:`load_canonical_state`; the result is the backend's own compiled model and
            runs through ``backend.forward`` (activity accounting, latency, energy, ``predict``).
            ``"framework"``: the framework's own reader (:class:`FrameworkNIRModel`, run with
            :class:`NIRReaderBackend`), for checking how that framework reads the file.
        n_time_bins: ``T`` when the file does not state it.
        dt: time step (s) to read the neurons at; default: the file's, else :data:`NIR_DT`.

    Returns:
        The compiled model, in eval mode, on CPU.

    Raises:
        FileNotFoundError: no such file.
        NIRVersionError: an unknown or newer NIR version.
        UnsupportedNodeError: a node the reader cannot compile (named, with the reason).
        NIRImportError: a malformed graph, a backend without a framework reader, or a backend
            that cannot compile the recovered spec (its reason).
    """
    from backends.base import get_backend

    if reader not in READERS:
        raise ValueError(f"reader: expected one of {READERS}, got {reader!r}")
    where = str(path_or_graph) if isinstance(path_or_graph, (str, Path)) else "<graph>"
    if isinstance(path_or_graph, (str, Path)):
        graph = read_nir(path_or_graph, supported=SUITE_NODES if reader == "suite" else None)
    else:
        graph = path_or_graph
    if reader == "framework":
        fw = _frameworks_for_backend(backend_name)
        try:
            rec = spec_from_graph(graph, n_time_bins=n_time_bins, dt=dt, where=where)
        except UnsupportedNodeError as exc:  # the framework may read what the suite cannot
            log.info("%s: %s; running %s's reader without a suite spec", where, exc, fw)
            rec = _reader_layout(graph, n_time_bins, dt, where)
        return FrameworkNIRModel(fw, graph, rec).eval()
    rec = spec_from_graph(graph, n_time_bins=n_time_bins, dt=dt, where=where)
    backend = get_backend(backend_name)
    ok, why = backend.available()
    if not ok:
        raise NIRImportError(f"{where}: backend {backend_name!r} is unavailable: {why}")
    from backends.base import BackendUnavailableError

    try:
        model = backend.build(rec.arch, rec.input_shape, rec.num_classes)
    except (ValueError, BackendUnavailableError) as exc:
        raise NIRImportError(f"{where}: {backend_name} cannot compile {rec.arch.name}: {exc}"
                             ) from exc
    load_canonical_state(model, rec.state)
    model.nir_metadata = rec.metadata  # type: ignore[attr-defined]
    return model.eval()


# ---------------------------------------------------------------------------------------------
# spike equality across the exchange
# ---------------------------------------------------------------------------------------------

def reader_equality(reader: str) -> Any:
    """The declared :class:`backends.equality.Equality` of a graph read by ``reader`` with the
    model it was written from: ``"<framework>-reader"`` for a framework's own reader, or a
    backend name for the suite's reader into that backend; ``None`` where the reader does not
    run the canonical dynamics (reasons in :data:`FRAMEWORK_READER_NOTES`).

    * snntorch's reader: ``exact_except_ties`` (its Leaky fires on ``v > thr``);
    * spikingjelly's reader: ``exact`` (``LIFNode(tau = 2, decay_input=False)``, ``v >= thr``;
      exact when ``1/(1 - beta)`` is a power of two, as for tiny_nir, see
      backends/spikingjelly_backend.py);
    * norse's reader: ``None``: it ignores ``r``, so the input gain is ``1 - beta``, not 1;
    * sinabs' reader: ``None``: sinabs' default MultiSpike and subtractive reset, ``tau`` read
      in time steps, and it fails on per-neuron conv parameters (``any(node.v_leak) != 0`` on a
      3-D array, sinabs/nir.py);
    * the suite's reader into backend ``b``: ``b``'s declared class (the graph is read back into
      the canonical neuron; NIR's ``>`` does not enter).
    """
    from backends.base import get_backend
    from backends.equality import Equality

    declared = {
        "snntorch-reader": Equality(
            "exact_except_ties",
            reason="snntorch's Leaky from import_from_nir fires on v > thr (its ATan "
            "surrogate's forward), the canonical neuron on v >= thr"),
        "spikingjelly-reader": Equality("exact"),
        "norse-reader": None,
        "sinabs-reader": None,
    }
    if reader in declared:
        return declared[reader]
    return get_backend(reader).equality


def spikes_by_layer(backend: Any, model: nn.Module, x: torch.Tensor
                    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Every hidden layer's spikes keyed by spec layer name, time-major ``(T*B, ...)``, and the
    logits ``(B, K)``, for a model of any backend (:func:`backends.equality.layer_spikes` for
    the torch backends, :func:`backends.lava_dl.forward_with_spikes` for lava-dl) or a
    :class:`FrameworkNIRModel`.

    Args:
        backend: a backend name or object (ignored for a FrameworkNIRModel).
        x: ``(B, T, 2, H, W)``.
    """
    from backends.base import get_backend
    from backends.equality import layer_spikes

    if isinstance(model, FrameworkNIRModel):
        model.eval()
        with torch.no_grad():
            out = NIRReaderBackend(model.framework).forward(model, x)
        return dict(model.last_spikes), out.logits
    if isinstance(backend, str):
        backend = get_backend(backend)
    if _is_lava(model):
        from backends.lava_dl import forward_with_spikes

        model.eval()
        with torch.no_grad():
            out, sp = forward_with_spikes(model, x)
        return ({k: v.transpose(0, 1).reshape(-1, *v.shape[2:]) for k, v in sp.items()},
                out.logits)
    sp, logits = layer_spikes(backend, model, x)
    return {k.split(".")[1] if k.startswith("layers.") else k: v for k, v in sp.items()}, logits


def spike_agreement_by_layer(ref: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor]
                             ) -> dict[str, float]:
    """``{layer: fraction of identical spikes}`` over the reference's layers.

    Raises:
        ValueError: a reference layer is missing in ``got`` or has another shape.
    """
    out = {}
    for name, a in ref.items():
        if name not in got:
            raise ValueError(f"layer {name!r} has no counterpart (got {sorted(got)})")
        b = got[name]
        if a.shape != b.shape:
            raise ValueError(f"layer {name!r}: spike shapes {tuple(a.shape)} vs {tuple(b.shape)}")
        out[name] = float((a == b).float().mean())
    return out


# ---------------------------------------------------------------------------------------------
# transfer
# ---------------------------------------------------------------------------------------------

VIAS = ("nir", "canonical")


def transfer(
    model_a: nn.Module,
    backend_a: str,
    backend_b: str,
    arch: Any,
    input_shape: tuple[int, int, int, int],
    num_classes: int,
    via: str = "nir",
    *,
    path: str | Path | None = None,
) -> nn.Module:
    """Move a model trained in backend A into backend B (train once, run anywhere).

    ``via="canonical"``: :func:`canonical_state` of ``model_a`` loaded into
    ``backend_b.build(arch, input_shape, num_classes)`` (any spec both compile, batch norm
    included). ``via="nir"``: :func:`export_nir` (writer ``"auto"``) to ``path`` (a temporary
    file if None), then :func:`import_nir` into B with the suite's reader; the recovered spec
    must be ``arch``'s layout. The result is B's own compiled model (eval mode, CPU), so B's
    forward, latency, spike and energy accounting apply to it; ``model_a`` is not moved or
    changed.

    Raises:
        NIRExportError: ``via="nir"`` and ``arch`` is not expressible in NIR (named node).
        NIRImportError: B cannot compile the spec, the file's layout differs from ``arch``, or
            one backend is spiking and the other not (``ann``).
        ValueError: unknown ``via``.
    """
    from backends.base import get_backend

    if via not in VIAS:
        raise ValueError(f"via: expected one of {VIAS}, got {via!r}")
    if isinstance(arch, str):
        arch = get_arch(arch)
    spiking = {name: bool(get_backend(name).spiking) for name in (backend_a, backend_b)}
    if spiking[backend_a] != spiking[backend_b]:
        raise NIRImportError(
            f"transfer {backend_a} -> {backend_b}: one is spiking and the other not; the weights "
            "of an SNN do not make its ANN twin (or the reverse)"
        )
    if via == "canonical":  # canonical_state copies to CPU: model_a stays where it is
        backend = get_backend(backend_b)
        ok, why = backend.available()
        if not ok:
            raise NIRImportError(f"backend {backend_b!r} is unavailable: {why}")
        model_b = backend.build(arch, tuple(input_shape), num_classes)
        load_canonical_state(model_b, canonical_state(model_a))
        return model_b.eval()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(path) if path is not None else Path(tmp) / f"{arch.name}.nir"
        export_nir(model_a, backend_a, arch, out)
        model_b = import_nir(out, backend_b)
    if model_b.arch.name != arch.name:
        raise NIRImportError(
            f"transfer {backend_a} -> {backend_b}: the NIR file describes {model_b.arch.name!r}, "
            f"not {arch.name!r}"
        )
    return model_b
