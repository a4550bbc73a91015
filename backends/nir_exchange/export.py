"""NIR exchange, export: a checkpoint's model to a NIR file or to lava-dl's HDF5 network format."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from backends.nir_exchange.common import (
    METADATA_KEY,
    NIR_DT,
    NIRExportError,
    NIRImportError,
    _import_nir,
    canonical_state,
    check_exportable,
    load_canonical_state,
)
from backends.nir_exchange.reading import (
    _registered_twin,
)
from backends.nir_exchange.writers import (
    SINABS_CONVENTION,
    _resolve_writer,
    _suite_metadata,
    build_graph,
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
    ``.model``, e.g. :class:`benchmarks.runner.checkpoints.LoadedModel`: load a checkpoint *file* with
    :func:`benchmarks.runner.checkpoints.load_checkpoint` first, as ``run_bench.py export`` does; this
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
            "(benchmarks.runner.checkpoints.load_checkpoint), then export the loaded model")
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
        checkpoint_or_model: a checkpoint path, a :class:`benchmarks.runner.checkpoints.LoadedModel`,
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
        FileNotFoundError, benchmarks.runner.checkpoints.CheckpointError: an unreadable checkpoint.
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
    loihi2: bool = False,
) -> Path:
    """Write a trained ConvNetSpec model in lava-dl's own HDF5 network format
    (:func:`backends.adapters.lava_dl.build.export_hdf5`), whatever backend trained it: the weights go to a
    lava-dl model through the canonical state, which runs one forward pass (SLAYER sets its
    neuron shapes there) and exports.

    Args:
        loihi2: export the model at Loihi 2's precision
            (:data:`backends.adapters.lava_dl.neurons.LOIHI2_OPTIONS`): the file's weights are SLAYER's
            8-bit integers, which lava-dl's netx runs on Loihi unchanged. Default: float weights
            in SLAYER's units (``weight * 64``), read back exactly by :func:`import_lava_hdf5`
            but requantised by netx.

    Raises:
        NIRExportError: lava-dl is unavailable, or it cannot compile or write the model (batch
            norm, residual connections, a subtractive reset: lava-dl's reason).
        FileNotFoundError, benchmarks.runner.checkpoints.CheckpointError: an unreadable checkpoint.
    """
    from backends.base import get_backend

    src = resolve_source(checkpoint_or_model, backend_name, arch)
    lava = get_backend("lava-dl")
    if loihi2:
        from backends.adapters.lava_dl import LOIHI2_OPTIONS, LavaDLBackend

        lava = LavaDLBackend(LOIHI2_OPTIONS)
    ok, why = lava.available()
    if not ok:
        raise NIRExportError(f"lava-hdf5 export needs lava-dl: {why}")
    try:
        model = lava.build(src.arch, src.input_shape, src.num_classes)
        load_canonical_state(model, src.state)
        with torch.no_grad():
            lava.forward(model.eval(), torch.zeros(1, *src.input_shape))
        from backends.adapters.lava_dl import export_hdf5

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return export_hdf5(model, path)
    except (ValueError, KeyError) as exc:
        raise NIRExportError(f"lava-hdf5 export of {src.backend}/{src.arch.name}: {exc}") from exc


def import_lava_hdf5(path: str | Path, backend_name: str) -> nn.Module:
    """Compile a file written by :func:`export_lava_hdf5` (lava-dl's network format) into any
    backend: lava-dl's importer via the canonical state (lava-dl 0.6.0 has no NIR reader).

    Read back (lava-dl's ``block.export_hdf5`` layout, ``backends/adapters/lava_dl/build.py: export_hdf5``):
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

    from backends.adapters.lava_dl import SLAYER_P_SCALE, SLAYER_W_SCALE
    from backends.base import get_backend

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


