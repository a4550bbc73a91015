"""NIR exchange, import: compile a NIR file into a backend through the suite's or the framework's reader."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from backends.nir_exchange.common import (
    NIR_DT,
    SUITE_NODES,
    NIRImportError,
    UnsupportedNodeError,
    _dist_version,
    _import_nir,
    load_canonical_state,
    nir_versions,
)
from backends.nir_exchange.reading import (
    ChainLayer,
    RecoveredModel,
    graph_metadata,
    read_nir,
    spec_from_graph,
)
from backends.nir_exchange.writers import (
    _forget_snntorch_instances,
    _quiet,
)

log = logging.getLogger(__name__)

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
    :class:`backends.base.ForwardOutput`), so that :func:`benchmarks.runner.inference.predict` and the
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
        from backends.blocks.forward import readout

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


