"""Checkpoints of trained cells: one file per cell, written by the cell, read by ``predict``.

Checkpoint (written by :func:`benchmarks.runner.cell.run_cell` when given ``checkpoint_dir``, one file
``<safe cell id>.pt`` per cell, a ``torch.save`` dict, see :func:`save_checkpoint`):

- ``schema``: :data:`CHECKPOINT_SCHEMA` (``"neurofer-checkpoint"``) and ``schema_version``
  (:data:`CHECKPOINT_SCHEMA_VERSION`);
- ``state_dict``: the selected model's weights (on CPU), with every per-sample neuron state buffer
  (:func:`neuron_state_keys`) saved empty, so that the file does not depend on the batch size of
  the last training batch;
- ``cell``: :meth:`benchmarks.results.spec.Cell.to_dict` (backend, arch, recipe, ...), ``cell_id``;
- ``backend``, ``arch``: names for :func:`backends.base.get_backend` / :func:`backends.specs.get_arch`;
- ``input_shape``: ``(T, 2, H, W)`` of one model input; ``classes``: class names, index order;
- ``sensor_size``: the training dataset's ``(W, H, 2)``;
- ``binner``: the training binner's fields (``dataclasses.asdict`` of :class:`datasets.transforms.binning.ToFrames`)
  and ``binner_repr``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets.common import InputError

log = logging.getLogger(__name__)

CHECKPOINT_SCHEMA = "neurofer-checkpoint"
CHECKPOINT_SCHEMA_VERSION = 1


class CheckpointError(InputError, ValueError):
    """A file is not a readable NeuroFER-Bench checkpoint; the message names the file."""


def checkpoint_filename(cell_id: str) -> str:
    """File name of a cell's checkpoint: the cell id with ``/`` as ``__`` and any other character
    outside ``[A-Za-z0-9._-]`` as ``_``, plus ``.pt``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", cell_id.replace("/", "__")) + ".pt"


def _binner_fields(binner: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(binner):
        d = dataclasses.asdict(binner)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
    return {}


_STATE_BUFFER_OWNERS: dict[str, tuple[str, ...]] = {
    "sinabs.layers.stateful_layer": ("StatefulLayer",),
}
"""Module classes (by module, subclasses included) whose every buffer is per-sample neuron state
rather than a weight: sinabs' ``StatefulLayer`` registers its states (``v_mem``, ``i_syn``, ...)
as persistent buffers shaped ``(batch, ...)`` and re-creates them with the shape of each new
batch (sinabs 3.x ``layers/stateful_layer.py``: ``init_state_with_shape``,
``handle_state_batch_size_mismatch``). The other frameworks keep their state out of the
``state_dict``: snntorch's ``mem`` and lava-dl's ``current_state`` / ``voltage_state`` are
non-persistent buffers, spikingjelly's memories and norse's returned states are no buffers."""


def neuron_state_keys(model: Any) -> set[str]:
    """The ``state_dict`` keys of ``model`` that hold per-sample neuron state, not weights: the
    buffers owned by a module of :data:`_STATE_BUFFER_OWNERS` (a framework that is not imported
    has no such module)."""
    import sys

    owners = tuple(c for mod, names in _STATE_BUFFER_OWNERS.items() if mod in sys.modules
                   for c in (getattr(sys.modules[mod], n, None) for n in names)
                   if isinstance(c, type))
    if not owners:
        return set()
    keys = set()
    for name, m in model.named_modules():
        if isinstance(m, owners):
            keys.update(f"{name}.{b}" if name else b
                        for b, _ in m.named_buffers(recurse=False))
    return keys & set(model.state_dict())


def save_checkpoint(checkpoint_dir: str | Path, cell: Any, model: Any, data: Any) -> Path:
    """Save ``model`` (the selected weights) of ``cell`` to ``checkpoint_dir/<safe cell id>.pt``.

    Args:
        checkpoint_dir: folder, created if absent.
        cell: the :class:`benchmarks.results.spec.Cell`.
        model: the trained ``torch.nn.Module``.
        data: the cell's :class:`benchmarks.runner.data.CellData` (input shape, classes, dataset
            sensor size, binner).

    Returns:
        The path written (atomically: temporary file, then rename).

    Neuron state buffers (:func:`neuron_state_keys`) are saved as empty tensors of their dtype
    (the state of the last training batch is of no use to a later pass, which resets it, and its
    batch size need not be the next pass's); a model that empties them itself (the suite's
    sinabs adapter) saves the same bytes.
    """
    import torch

    from datasets.common import atomic_write

    checkpoint_dir = Path(checkpoint_dir)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint_dir / checkpoint_filename(cell.cell_id)
    sensor = getattr(data.dataset, "sensor_size", None)
    ckpt = {
        "schema": CHECKPOINT_SCHEMA,
        "schema_version": CHECKPOINT_SCHEMA_VERSION,
        "cell_id": cell.cell_id,
        "cell": cell.to_dict(),
        "backend": cell.backend,
        "arch": cell.arch,
        "input_shape": [int(v) for v in data.train.x.shape[1:]],
        "classes": list(data.classes),
        "sensor_size": [int(v) for v in sensor] if sensor is not None else None,
        "binner": _binner_fields(data.binner),
        "binner_repr": repr(data.binner),
        "state_dict": _state_for_saving(model),
    }
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))
    log.info("checkpoint of %s -> %s", cell.cell_id, path)
    return path


def _state_for_saving(model: Any) -> dict[str, Any]:
    """``model.state_dict()`` on CPU with its neuron state buffers empty (see :func:`save_checkpoint`)."""
    state = neuron_state_keys(model)
    return {k: (v.detach().new_zeros((0,)) if k in state else v.detach()).cpu()
            for k, v in model.state_dict().items()}


def fit_neuron_state(model: Any, saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` with every neuron state buffer of ``model`` (:func:`neuron_state_keys`) taken
    from the model itself: a state saved at another batch size (an older checkpoint holds the last
    training batch's) or saved empty cannot and need not be copied, since each pass resets it.
    Weights and any other buffer are left as saved, for a strict ``load_state_dict``."""
    state = neuron_state_keys(model)
    if not state:
        return saved
    current = model.state_dict()
    fitted = dict(saved)
    for k in state:
        if k in saved and tuple(saved[k].shape) != tuple(current[k].shape):
            log.debug("neuron state %s: saved shape %s, model's %s kept", k,
                      tuple(saved[k].shape), tuple(current[k].shape))
            fitted[k] = current[k]
    return fitted


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, ready for inference (eval mode, on ``device``)."""

    path: Path
    backend: Any
    model: Any
    checkpoint: dict[str, Any]
    device: str = "cpu"

    @property
    def classes(self) -> list[str]:
        return list(self.checkpoint["classes"])

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """``(T, 2, H, W)``."""
        return tuple(self.checkpoint["input_shape"])  # type: ignore[return-value]

    def binner_for(self, sensor_size: tuple[int, int, int]):
        """The training binning with ``sensor_size`` ``(W, H, 2)`` (the recording's) in place of
        the training dataset's; output frames ``(T, 2, H, W)`` of :attr:`input_shape`.

        Raises:
            CheckpointError: the checkpoint has no binner fields (a non-``ToFrames`` binner).
        """
        from datasets.transforms.binning import ToFrames

        fields = dict(self.checkpoint.get("binner") or {})
        if not fields:
            raise CheckpointError(
                f"{self.path}: checkpoint has no binner parameters ({self.checkpoint.get('binner_repr')!r}); "
                "cannot bin a recording like the training data"
            )
        fields["sensor_size"] = tuple(int(v) for v in sensor_size)
        if fields.get("size") is not None:
            fields["size"] = tuple(fields["size"])
        known = {f.name for f in dataclasses.fields(ToFrames)}
        return ToFrames(**{k: v for k, v in fields.items() if k in known})


def load_checkpoint(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a checkpoint and rebuild its model with the same backend and architecture.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a NeuroFER-Bench checkpoint (unreadable, wrong schema, newer schema
            version), unknown or unavailable backend, unknown architecture, or weights that do not
            fit the rebuilt model. Every message names the file.

    Every weight and buffer must fit the rebuilt model (a strict ``load_state_dict``), except the
    per-sample neuron state buffers (:func:`neuron_state_keys`), which keep the rebuilt model's
    shape whatever batch size the file's were saved at; the model then evaluates at any batch size.
    """
    import torch

    from backends.base import UnknownNameError
    from backends.specs import ARCHS, get_arch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors of a file that is not a torch.save output
        log.debug("torch.load(%s) failed: %s", path, exc)
        raise CheckpointError(
            f"{path}: not a checkpoint (torch.load cannot read it as a weights-only torch.save file: "
            f"{type(exc).__name__})"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("schema") != CHECKPOINT_SCHEMA:
        raise CheckpointError(f"{path}: not a NeuroFER-Bench checkpoint (no schema {CHECKPOINT_SCHEMA!r})")
    version = ckpt.get("schema_version")
    if not isinstance(version, int) or version > CHECKPOINT_SCHEMA_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint schema version {version!r} is not supported (this code reads <= "
            f"{CHECKPOINT_SCHEMA_VERSION})"
        )
    for key in ("backend", "arch", "input_shape", "classes", "state_dict"):
        if key not in ckpt:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    from backends.native.backend import backend_for
    from backends.native.card import PluginError, load_plugins

    try:
        if ckpt["arch"] not in ARCHS.names():  # a plugin loaded already (e.g. a bundle's copy)
            load_plugins(tuple((ckpt.get("cell") or {}).get("plugins") or ()))
        arch = get_arch(ckpt["arch"])
        backend = backend_for(ckpt["backend"], arch)
    except (UnknownNameError, PluginError) as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    ok, why = backend.available()
    if not ok:
        raise CheckpointError(f"{path}: backend {ckpt['backend']!r} is unavailable: {why}")
    from benchmarks.runner.methods import task_outputs

    task = ((ckpt.get("cell") or {}).get("recipe") or {}).get("task", "classification")
    model = backend.build(arch, tuple(ckpt["input_shape"]), task_outputs(task, len(ckpt["classes"])))
    try:
        model.load_state_dict(fit_neuron_state(model, ckpt["state_dict"]))
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit {ckpt['backend']}/{ckpt['arch']}: {exc}") from exc
    model.to(device).eval()
    log.info("loaded %s: %s/%s, input %s, %d classes", path, ckpt["backend"], ckpt["arch"],
             tuple(ckpt["input_shape"]), len(ckpt["classes"]))
    return LoadedModel(path=path, backend=backend, model=model, checkpoint=ckpt, device=device)


def load_nir(
    path: str | Path,
    backend_name: str,
    *,
    reader: str = "suite",
    classes: list[str] | None = None,
    n_time_bins: int | None = None,
    device: str = "cpu",
) -> Any:
    """A ``.nir`` file as a :class:`benchmarks.runner.checkpoints.LoadedModel`, for ``predict``.

    The checkpoint dict is rebuilt from the file's metadata (``backend`` = ``backend_name``,
    ``arch``, ``input_shape``, ``classes``, ``binner``, ``sensor_size``); ``classes`` overrides
    the file's (required for a file written elsewhere, ``"0".."K-1"`` otherwise, logged).

    Raises:
        See :func:`import_nir`; NIRImportError if ``classes`` does not match the output size.
    """
    from backends.base import get_backend
    from backends.nir_exchange import (
        SUITE_NODES,
        NIRImportError,
        NIRReaderBackend,
        graph_metadata,
        import_nir,
        nir_versions,
        read_nir,
    )

    graph = read_nir(path, supported=SUITE_NODES if reader == "suite" else None)
    model = import_nir(graph, backend_name, reader=reader, n_time_bins=n_time_bins)
    model.to(device).eval()
    meta = graph_metadata(graph)
    k = model.num_classes
    names = classes or meta.get("classes")
    if names is None:
        log.warning("%s states no class names; using 0..%d", path, k - 1)
        names = [str(i) for i in range(k)]
    if len(names) != k:
        raise NIRImportError(f"{path}: {len(names)} class names for {k} outputs")
    arch = getattr(model, "arch", None)
    ckpt = {
        "backend": backend_name,
        "arch": arch.name if arch is not None else meta.get("arch", f"nir:{Path(path).stem}"),
        "input_shape": list(model.input_shape),
        "classes": list(names),
        "binner": meta.get("binner") or {},
        "binner_repr": "from NIR metadata",
        "sensor_size": meta.get("sensor_size"),
        "cell": meta.get("cell") or {},
        "cell_id": meta.get("cell_id"),
        "nir": {"path": str(path), "writer": meta.get("writer"), "reader": reader,
                "exported_from_backend": meta.get("exported_from_backend"), **nir_versions()},
    }
    backend = get_backend(backend_name) if reader == "suite" else NIRReaderBackend(backend_name)
    return LoadedModel(path=Path(path), backend=backend, model=model, checkpoint=ckpt,
                       device=device)
