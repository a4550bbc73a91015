"""NIR exchange, transfer: move a trained model between backends and compare spikes across the exchange."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from backends.nir_exchange.common import (
    NIRImportError,
    _is_lava,
    canonical_state,
    load_canonical_state,
)
from backends.nir_exchange.export import (
    export_nir,
)
from backends.nir_exchange.importer import (
    FrameworkNIRModel,
    NIRReaderBackend,
    import_nir,
)
from backends.specs import (
    get_arch,
)

log = logging.getLogger(__name__)

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
      backends/adapters/spikingjelly_backend.py);
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
    the torch backends, :func:`backends.adapters.lava_dl.forward_with_spikes` for lava-dl) or a
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
        from backends.adapters.lava_dl import forward_with_spikes

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
