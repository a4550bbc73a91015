"""NIR exchange, writers: the suite's writer (from the canonical state) and the frameworks' own writers."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from backends.nir_exchange.common import (
    METADATA_FORMAT,
    METADATA_VERSION,
    NIR_DT,
    NIRExportError,
    _import_nir,
    _neuron_node,
    check_exportable,
    nir_versions,
)
from backends.specs import (
    ConvNetSpec,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# the suite's writer
# ---------------------------------------------------------------------------------------------


def _plans(arch: ConvNetSpec, input_shape: tuple[int, int, int, int], num_classes: int):
    from backends.blocks.plans import convnet_plan

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
    ``init_hidden``); drop ours so they can be freed (as backends/adapters/snntorch_backend.py does)."""
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


