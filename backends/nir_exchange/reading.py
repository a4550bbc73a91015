"""NIR exchange, reading: parse and check a NIR file and recover the suite's spec and weights from its graph."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backends.nir_exchange.common import (
    METADATA_KEY,
    NIR_DT,
    NODE_UNSUPPORTED,
    SUITE_NODES,
    NIRImportError,
    NIRVersionError,
    UnsupportedNodeError,
    _close,
    _import_nir,
    neuron_from_nir,
    nir_versions,
)
from backends.specs import (
    ConvLayer,
    ConvNetSpec,
    DenseLayer,
    NeuronSpec,
    arch_names,
    get_arch,
)

log = logging.getLogger(__name__)

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
    backends.nir_exchange.common.NIRVersionError: <graph>: written by NIR 99.0, newer than the ...
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
    dt = _time_step(graph, meta, dt, where)
    t = n_time_bins if n_time_bins is not None else meta.get("n_time_bins")
    if t is None:
        raise NIRImportError(
            f"{where}: the graph does not state n_time_bins (NIR graphs have no time axis); "
            "pass n_time_bins="
        )
    order = _chain(graph, where)
    body = order[1:-1]
    _check_node_types(graph, body, where)
    inp = graph.nodes[order[0]]
    in_shape = np.asarray(inp.input_type["input"]).astype(int).ravel().tolist()
    if len(in_shape) != 3:
        raise NIRImportError(f"{where}: Input shape {in_shape}: expected (2, H, W)")
    c, h, w = in_shape
    convs, denses, weights, chain, neurons = _walk_layers(graph, body, where)
    neuron, gain = _shared_neuron(graph, neurons, dt, meta, where)
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


def _time_step(graph: Any, meta: dict[str, Any], dt: float | None, where: str) -> float:
    """The time step of :func:`spec_from_graph` (s): ``dt`` if given, else the metadata's
    ``dt_s``, else the graph's own ``metadata["dt_s"]``, else :data:`NIR_DT` (logged)."""
    if dt is None:
        dt = meta.get("dt_s")
        if dt is None and isinstance(getattr(graph, "metadata", None), dict):
            dt = graph.metadata.get("dt_s")
        if dt is None:
            log.info("%s: the graph states no time step; reading it at dt = %g s", where, NIR_DT)
            dt = NIR_DT
    return float(np.asarray(dt).ravel()[0])


def _check_node_types(graph: Any, body: list[str], where: str) -> None:
    """Raise :class:`UnsupportedNodeError` for the first node of ``body`` whose type is not in
    :data:`SUITE_NODES` (the message gives :data:`NODE_UNSUPPORTED`'s reason)."""
    for name in body:
        kind = type(graph.nodes[name]).__name__
        if kind not in SUITE_NODES:
            raise UnsupportedNodeError(
                f"{where}: node {name!r} ({kind}): "
                + NODE_UNSUPPORTED.get(kind, "not compiled by the suite's reader"), name, kind,
            )


def _conv_weight(node: Any, name: str, nxt_kind: str, flat: bool, where: str) -> np.ndarray:
    """The weight ``(O, C, k, k)`` of a Conv2d node the suite's convs can hold: before the
    Flatten, square, ungrouped, undilated, integer padding, no bias, followed by a LIF/IF.

    Raises:
        UnsupportedNodeError: the first of these that fails.
    """
    kind = "Conv2d"
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
    return wt


def _dense_weight(node: Any, name: str, kind: str, after_convs_unflattened: bool,
                  where: str) -> np.ndarray:
    """The weight ``(O, F)`` of a Linear/Affine node: after the Flatten when there are convs,
    and (Affine) with a zero bias.

    Raises:
        UnsupportedNodeError: either fails.
    """
    if after_convs_unflattened:
        raise UnsupportedNodeError(f"{where}: node {name!r} ({kind}) before a Flatten",
                                   name, kind)
    wt = np.asarray(node.weight)
    if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
        raise UnsupportedNodeError(
            f"{where}: node {name!r} (Affine): non-zero bias; the suite's specs have no "
            "biases", name, kind)
    return wt


def _walk_layers(graph: Any, body: list[str], where: str) -> tuple[
        list[ConvLayer], list[DenseLayer], list[tuple[str, np.ndarray]],
        list[tuple[str, str, str | None]], list[tuple[str, Any]]]:
    """Walk the chain's ``body`` (Input and Output excluded) into conv layers, dense layers (the
    readout last, ``fc``, 0 outputs), the weights in layer order, the chain ``(kind, synapse
    node, neuron node or None)`` and the neuron nodes ``(name, node)``.

    Raises:
        UnsupportedNodeError: a node the suite's layers cannot hold (see :func:`_conv_weight`,
            :func:`_dense_weight`), a neuron that follows no synapse, a synapse followed by
            something else.
        NIRImportError: an Input/Output inside the chain, no readout, or no neuron.
    """
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
            wt = _conv_weight(node, name, nxt_kind, flat, where)
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
            wt = _dense_weight(node, name, kind, not flat and bool(convs), where)
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
    return convs, denses, weights, chain, neurons


def _shared_neuron(graph: Any, neurons: list[tuple[str, Any]], dt: float,
                   meta: dict[str, Any], where: str) -> tuple[NeuronSpec, float]:
    """The one neuron of every layer (:func:`neuron_from_nir` of each node) and the input gain
    of the last; the metadata's neuron (with its surrogate) where it agrees with the nodes'.

    Raises:
        UnsupportedNodeError: neurons that differ between layers.
    """
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
    return neuron, gain


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


