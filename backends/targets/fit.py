"""Fit: whether a spec'd architecture fits a chip target, layer by layer, and why not.

Verdicts (:class:`FitResult.verdict`): ``"fits"`` (one chip), ``"needs_chips"`` (``chips``
chips; no target here spans chips: sinabs maps one chip, and Loihi 2's per-core limits are
unsourced), ``"unmapped"`` (a native model: the fit reads specs, and a NIR route is not
implemented), ``"does_not_fit"`` (a layer the chip or its toolchain cannot take, or a limit it exceeds:
the reason names the layer and the limit) and ``"unknown"`` (the layers map, but a limit the
verdict needs has no source in the target file; ``chips_at_least`` is the bound the sourced
limits give).

DYNAP-CNN (family ``"dynapcnn"``), as sinabs 3.1.3 maps a network: every layer (the readout
included, as an IAF layer whose spike counts decide) takes one core; a dense layer is a
convolution whose kernel covers its whole input map (``convert_linear_to_conv``); a layer needs
kernel memory ``c * 2^(ceil(log2(k_h k_w)) + ceil(log2(f)))``, neuron memory
``f * 2^(ceil(log2(h)) + ceil(log2(w)))`` and bias memory ``f`` if it has biases (batch norm
folded into the convolution gives biases) (``DynapcnnLayer.memory_summary``); a core holds a layer
when all three fit (``LayerConstraints.fits``); cores are assigned by the same Edmonds-Karp
maximum bipartite matching as ``sinabs.backend.dynapcnn.mapping.get_valid_mapping`` (same graph,
same edge order, so the same assignment).

Loihi 2 (family ``"loihi2"``), as lava-dl 0.6.0's netx loads a network: conv, flatten and dense
blocks of CUBA neurons with zero reset (IF is CUBA with no voltage decay); no pooling, batch
norm or residual addition. Needs: neurons per layer and synapses (dense: ``in x out``, the
stored synapses; conv: ``out neurons x c x k x k`` connections). The chip totals (neurons,
synapses per chip) bound the chips needed from below; the per-core limits (neurons, synapses,
axons per core) have no public source, so a mappable network's verdict is ``"unknown"``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from backends.specs import ConvNetSpec, ResNetSpec, SEENSpec, arch_names, get_arch
from backends.targets.target import Target, get_target


@dataclass(frozen=True)
class LayerShape:
    """One weight layer of a spec as a chip sees it.

    Attributes:
        name: the spec's layer name.
        kind: ``"conv"`` or ``"dense"``.
        in_shape: ``(C, H, W)`` of its input (a dense layer after flatten: the map before it).
        out_shape: ``(F, H, W)`` of its neurons (before pooling; dense: ``(F, 1, 1)``).
        kernel: ``(k_h, k_w)`` (dense: the input map's ``(H, W)``).
        stride, padding: of the convolution (dense: 1, 0).
        batch_norm: batch norm after the convolution.
        pool: max-pool size after the neuron, or None.
        neuron: ``"lif"`` or ``"if"``; None for the readout (no neuron in the spec).
    """

    name: str
    kind: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: int = 1
    padding: int = 0
    batch_norm: bool = False
    pool: int | None = None
    neuron: str | None = None

    @property
    def neurons(self) -> int:
        """Neurons of the layer: ``F * H * W``."""
        return math.prod(self.out_shape)


@dataclass(frozen=True)
class LayerFit:
    """A layer's needs on a target and where it goes.

    Attributes:
        layer: the layer's name.
        needs: resource -> amount (words of memory, neurons, synapses).
        candidates: DYNAP-CNN cores whose memories hold the layer (empty on Loihi 2).
        core: the core assigned (DYNAP-CNN), or None.
        problem: why the layer cannot be mapped, or None.
    """

    layer: str
    needs: dict[str, int]
    candidates: tuple[int, ...] = ()
    core: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class FitResult:
    """The fit of one architecture on one target (see the module docstring for verdicts)."""

    arch: str
    target: str
    verdict: str
    reason: str
    chips: int | None = None
    chips_at_least: int | None = None
    layers: tuple[LayerFit, ...] = field(default_factory=tuple)


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def conv_layers(spec: ConvNetSpec, in_channels: int = 2, num_classes: int = 7) -> list[LayerShape]:
    """The weight layers of a conv-net spec with their shapes, the readout last.

    Args:
        spec: the architecture.
        in_channels: the input's channels (2 with polarity).
        num_classes: the readout's outputs (``K``).

    Raises:
        ValueError: a layer's output map is empty (the message names the layer).
    """
    c, (h, w) = in_channels, spec.input_size
    out: list[LayerShape] = []
    for conv in spec.convs:
        ho = _conv_out(h, conv.kernel_size, conv.stride, conv.padding)
        wo = _conv_out(w, conv.kernel_size, conv.stride, conv.padding)
        if ho < 1 or wo < 1:
            raise ValueError(f"spec {spec.name}: layer {conv.name}: empty output map {ho}x{wo}")
        out.append(LayerShape(conv.name, "conv", (c, h, w), (conv.out_channels, ho, wo),
                              (conv.kernel_size, conv.kernel_size), conv.stride, conv.padding,
                              conv.batch_norm, conv.pool, spec.neuron.model))
        c, h, w = conv.out_channels, ho, wo
        if conv.pool:
            h, w = h // conv.pool, w // conv.pool
    for i, dense in enumerate(spec.denses):
        readout = i == len(spec.denses) - 1
        f = num_classes if readout else dense.out_features
        out.append(LayerShape(dense.name, "dense", (c, h, w), (f, 1, 1), (h, w),
                              neuron=None if readout else spec.neuron.model))
        c, h, w = f, 1, 1
    return out


def _log2_ceil(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def dynapcnn_memory(layer: LayerShape) -> dict[str, int]:
    """Kernel, neuron and bias memory (words) a layer needs on DYNAP-CNN.

    Formula of sinabs 3.1.3, ``DynapcnnLayer.memory_summary``: kernel
    ``c * 2^(ceil(log2(k_h k_w)) + ceil(log2(f)))``, neuron ``f * 2^(ceil(log2(h)) +
    ceil(log2(w)))``, bias ``f`` when the layer has biases (here: batch norm folded), else 0.
    E.g. a 29x29 kernel from 2 to 64 channels: ``2 * 2^(10 + 6) = 131,072`` words.
    """
    c, f = layer.in_shape[0], layer.out_shape[0]
    kh, kw = layer.kernel
    _, ho, wo = layer.out_shape
    return {
        "kernel_memory": c * 2 ** (_log2_ceil(kh * kw) + _log2_ceil(f)),
        "neuron_memory": f * 2 ** (_log2_ceil(ho) + _log2_ceil(wo)),
        "bias_memory": f if layer.batch_norm else 0,
    }


def max_bipartite_assignment(candidates: list[list[int]], n_cores: int) -> list[int] | None:
    """Assign each layer one distinct core from its candidates, or None if no full assignment.

    Edmonds-Karp maximum flow on the graph of sinabs 3.1.3's ``mapping.make_flow_graph``
    (source -> layers -> cores -> sink, unit capacities, edges added in the same order, residual
    edges included), augmented by breadth-first search as its ``mapping.edmonds``; the
    assignment read as its ``recover_mapping``. The same graph and order give sinabs' result.

    Args:
        candidates: per layer, in order, the cores (ascending) that can hold it.
        n_cores: the chip's cores.
    """
    n = len(candidates)
    sink = n + n_cores + 1
    # edge: [to, cap, flow, index of reverse edge in graph[to]]
    graph: list[list[list[int]]] = [[] for _ in range(sink + 1)]

    def add(s: int, t: int) -> None:
        graph[s].append([t, 1, 0, len(graph[t])])
        graph[t].append([s, 0, 0, len(graph[s]) - 1])

    for i in range(n):
        add(0, i + 1)
    for i, cores in enumerate(candidates):
        for core in cores:
            add(i + 1, core + n + 1)
    for core in range(n_cores):
        add(core + n + 1, sink)
    while True:
        pred: list[tuple[int, int] | None] = [None] * len(graph)
        queue = deque([0])
        while queue:
            cur = queue.popleft()
            for k, (t, cap, flow, _) in enumerate(graph[cur]):
                if pred[t] is None and t != 0 and cap > flow:
                    pred[t] = (cur, k)
                    queue.append(t)
        if pred[sink] is None:
            break
        node = sink
        while node != 0:
            s, k = pred[node]  # type: ignore[misc]
            edge = graph[s][k]
            edge[2] += 1
            graph[edge[0]][edge[3]][2] -= 1
            node = s
    out = []
    for i in range(n):
        hit = [t - n - 1 for t, _, flow, _ in graph[i + 1] if flow == 1 and t > n]
        if not hit:
            return None
        out.append(hit[0])
    return out


def _unmappable_resnet(spec: ResNetSpec, target: Target) -> FitResult:
    if target.family == "dynapcnn":
        reason = (f"layer stem: max pooling after the stem (limits.pooling: "
                  f"{target.value('limits.pooling')}); SEW residual ADD and global average "
                  f"pooling; {1 + 2 * sum(spec.blocks) + (len(spec.blocks) - 1) + 1} weight "
                  f"layers for {target.value('limits.cores')} cores")
    else:
        reason = (f"layer stem: batch norm ({target.value('limits.batch_norm')}) and max pooling "
                  f"(limits.layers: {target.value('limits.layers')}); SEW residual ADD")
    return FitResult(spec.name, target.name, "does_not_fit", reason)


def _unmappable_seen(spec: SEENSpec, target: Target) -> FitResult:
    reason = ("layer att_k3: two inputs (events and frames), an attention MLP with a softmax over "
              "scales and biased non-spiking frame convs: no layer type of the target takes them")
    if target.family == "dynapcnn":
        reason += f"; neuron {spec.neuron.model!r} is not {target.value('neuron.model')!r}"
    return FitResult(spec.name, target.name, "does_not_fit", reason)


def _fit_dynapcnn(name: str, layers: list[LayerShape], target: Target) -> FitResult:
    km, nm, bm = (target.value(f"limits.{k}") for k in
                  ("kernel_memory", "neuron_memory", "bias_memory"))
    n_cores = target.value("limits.cores")
    fits: list[LayerFit] = []
    problems: list[str] = []
    for layer in layers:
        needs = dynapcnn_memory(layer)
        found = []
        if layer.neuron not in (None, "if"):
            found.append(f"neuron {layer.neuron!r} is not IAF (neuron.model = "
                         f"{target.value('neuron.model')!r})")
        if layer.pool:
            found.append(f"max pooling {layer.pool}x{layer.pool} (limits.pooling: "
                         f"{target.value('limits.pooling')})")
        if layer.kernel[0] != layer.kernel[1]:
            found.append(f"kernel {layer.kernel[0]}x{layer.kernel[1]} is not square")
        if layer is layers[0] and layer.in_shape[0] > target.value("limits.input_channels"):
            found.append(f"{layer.in_shape[0]} input channels, the input takes at most "
                         f"{target.value('limits.input_channels')}")
        problem = "; ".join(found) or None
        cands = tuple(i for i in range(n_cores)
                      if needs["kernel_memory"] <= km[i] and needs["neuron_memory"] <= nm[i]
                      and needs["bias_memory"] <= bm[i])
        if problem is None and not cands:
            over = [f"{k} {needs[k]:,} words where the largest core has {max(lim):,}"
                    for k, lim in (("kernel_memory", km), ("neuron_memory", nm),
                                   ("bias_memory", bm)) if needs[k] > max(lim)]
            problem = "; ".join(over) or "no single core holds all three memories"
        if problem:
            problems.append(f"layer {layer.name}: {problem}")
        fits.append(LayerFit(layer.name, needs, cands, None, problem))
    if not problems and len(layers) > n_cores:
        problems.append(f"{len(layers)} layers need {len(layers)} cores, the chip has {n_cores}")
    if problems:
        return FitResult(name, target.name, "does_not_fit", "; ".join(problems),
                         layers=tuple(fits))
    assignment = max_bipartite_assignment([list(f.candidates) for f in fits], n_cores)
    if assignment is None:
        return FitResult(name, target.name, "does_not_fit",
                         "no assignment of one core per layer within the cores' memories",
                         layers=tuple(fits))
    placed = tuple(LayerFit(f.layer, f.needs, f.candidates, core)
                   for f, core in zip(fits, assignment, strict=True))
    return FitResult(name, target.name, "fits", f"{len(layers)} of {n_cores} cores", chips=1,
                     layers=placed)


def _fit_loihi2(name: str, layers: list[LayerShape], reset: str, target: Target) -> FitResult:
    fits: list[LayerFit] = []
    problems: list[str] = []
    for layer in layers:
        c, kh, kw = layer.in_shape[0], *layer.kernel
        synapses = (layer.neurons * c * kh * kw if layer.kind == "conv"
                    else math.prod(layer.in_shape) * layer.out_shape[0])
        needs = {"neurons": layer.neurons, "synapses": synapses}
        found = []
        if layer.pool:
            found.append(f"max pooling (limits.layers: {target.value('limits.layers')})")
        if layer.batch_norm:
            found.append(f"batch norm (limits.batch_norm: {target.value('limits.batch_norm')})")
        if layer.neuron is not None and reset != "zero":
            found.append(f"reset {reset!r} (neuron.reset: {target.value('neuron.reset')!r})")
        problem = "; ".join(found) or None
        if problem:
            problems.append(f"layer {layer.name}: {problem}")
        fits.append(LayerFit(layer.name, needs, problem=problem))
    if problems:
        return FitResult(name, target.name, "does_not_fit", "; ".join(problems),
                         layers=tuple(fits))
    bounds = []
    neurons = sum(f.needs["neurons"] for f in fits)
    dense_syn = sum(f.needs["synapses"] for f, la in zip(fits, layers, strict=True)
                    if la.kind == "dense")
    for key, total in (("limits.neurons_per_chip", neurons),
                       ("limits.synapses_per_chip", dense_syn)):
        limit = target.value(key)
        if limit is not None:
            bounds.append(max(1, math.ceil(total / limit)))
    missing = [k for k in ("limits.neurons_per_core", "limits.synapses_per_core",
                           "limits.axons_per_core") if target.get(k) is None]
    reason = (f"layers map; {neurons:,} neurons; per-core limits without a source: "
              f"{', '.join(missing)}" if missing else
              f"layers map; {neurons:,} neurons; packing into cores is not modelled")
    return FitResult(name, target.name, "unknown", reason,
                     chips_at_least=max(bounds) if bounds else None, layers=tuple(fits))


def fit(arch: str | object, target: str | Target, *, in_channels: int = 2,
        num_classes: int = 7) -> FitResult:
    """The fit of an architecture (a registered name or a spec) on a target (name or object).

    Args:
        arch: architecture name (:func:`backends.specs.get_arch`) or spec.
        target: target name (:func:`backends.targets.target.get_target`) or :class:`Target`.
        in_channels: the input's channels (2 with polarity, 1 without).
        num_classes: the readout's outputs.

    Raises:
        UnknownNameError: unknown architecture or target name.
        TargetFileError: the target's file is malformed.
    """
    tgt = get_target(target) if isinstance(target, str) else target
    spec = get_arch(arch) if isinstance(arch, str) else arch
    name = getattr(spec, "name", str(arch))
    if isinstance(spec, ResNetSpec):
        return _unmappable_resnet(spec, tgt)
    if isinstance(spec, SEENSpec):
        return _unmappable_seen(spec, tgt)
    if not isinstance(spec, ConvNetSpec):
        return FitResult(name, tgt.name, "unmapped",
                         "native model: no layer description; the fit reads spec'd "
                         "architectures only (a NIR graph route is not implemented)")
    layers = conv_layers(spec, in_channels, num_classes)
    if tgt.family == "dynapcnn":
        return _fit_dynapcnn(name, layers, tgt)
    return _fit_loihi2(name, layers, spec.neuron.reset, tgt)


def fit_all(targets: list[str], pattern: str = "*", **kwargs: int) -> list[FitResult]:
    """:func:`fit` for every registered architecture matching ``pattern`` on every target."""
    return [fit(a, t, **kwargs) for a in arch_names(pattern) for t in targets]
