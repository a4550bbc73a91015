"""Building a SLAYER network from an architecture spec, its canonical (suite-layout) weights, and
its export to lava-dl's HDF5 network format."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from backends.adapters.lava_dl.models import LavaDLNet, SlayerConvNet, SlayerSEWResNet
from backends.adapters.lava_dl.neurons import LavaDLOptions, cuba_mapping
from backends.adapters.lava_dl.slayer import LAVA_DL_DIST, _dist_version, import_slayer
from backends.blocks.plans import check_input_shape
from backends.equality import check_state_matches
from backends.specs import ConvNetSpec, ResNetSpec, SEENSpec, get_arch

log = logging.getLogger(__name__)


SEEN_UNSUPPORTED = (
    "seen: not expressible with lava-dl SLAYER blocks: (1) its frame branch is a non-spiking, "
    "single-shot conv stack with biases, batch norm, ReLU and a softmax attention over scales, "
    "and SLAYER blocks are CUBA spiking layers over time (no real-valued non-temporal path); "
    "(2) the event branch scales each scale's conv output by a per-sample attention weight "
    "computed by the frame branch, a data-dependent multiplicative gain no SLAYER synapse has; "
    "(3) the weight copy needs the event convs to reuse the frame convs' weights without their "
    "biases and detached from the graph, while a SLAYER block owns its (scaled, 5-D) synapse "
    "weight and its bias; (4) the readout is the mean membrane of a LIF with threshold 0.3 and a "
    "rectangular surrogate, not a SLAYER CUBA readout. Run seen with the snntorch backend "
    "(spiking) or the ann backend (ANN twin)."
)
"""Why :func:`build_model` raises ``ValueError`` for a :class:`~backends.specs.SEENSpec`."""


def build_model(
    arch: ConvNetSpec | ResNetSpec | str,
    input_shape: tuple[int, int, int, int],
    num_classes: int,
    options: LavaDLOptions | None = None,
) -> LavaDLNet:
    """Compile ``arch`` into SLAYER blocks for inputs ``(T, 2, H, W)`` and ``num_classes`` outputs.

    The layer sizes follow ``input_shape`` (``H, W``); the spec's ``input_size`` and
    ``n_time_bins`` are what the benchmark feeds, and a mismatch is logged.

    Args:
        arch: a spec or a registered architecture name.
        input_shape: ``(T, 2, H, W)``.
        num_classes: ``K >= 1``.
        options: :class:`LavaDLOptions` (default: float weights, SLAYER's default scale).

    Raises:
        BackendUnavailableError: lava-dl cannot be imported.
        ValueError: bad ``input_shape`` / ``num_classes``, or a part of the spec SLAYER cannot
            express (e.g. ``neuron.reset='subtract'``, see :func:`cuba_mapping`; a SEENSpec,
            see :data:`SEEN_UNSUPPORTED`).
    """
    if isinstance(arch, str):
        arch = get_arch(arch)
    if isinstance(arch, SEENSpec):
        raise ValueError(SEEN_UNSUPPORTED)
    try:
        shape = check_input_shape(input_shape)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes: expected an int >= 1, got {num_classes!r}")
    if not isinstance(arch, ConvNetSpec | ResNetSpec):
        raise ValueError(f"arch: expected a ConvNetSpec or ResNetSpec, got {type(arch).__name__}")
    if (shape[0], shape[2], shape[3]) != (arch.n_time_bins, *arch.input_size):
        log.info(
            "%s: building for input_shape %s (spec: T=%d, input_size=%s)",
            arch.name,
            shape,
            arch.n_time_bins,
            arch.input_size,
        )
    options = options or LavaDLOptions()
    cuba_mapping(arch.neuron, options.scale)  # validates before importing lava-dl
    slayer = import_slayer()
    if isinstance(arch, ConvNetSpec):
        model: LavaDLNet = SlayerConvNet(slayer, arch, shape, num_classes, options)
    else:
        model = SlayerSEWResNet(slayer, arch, shape, num_classes, options)
    log.debug(
        "lava-dl %s: %d parameters, mapping %s",
        arch.name,
        sum(p.numel() for p in model.parameters()),
        model.mapping,
    )
    return model


def _check_model(model: Any) -> LavaDLNet:
    """Return ``model`` if this adapter built it; raise TypeError otherwise."""
    if not isinstance(model, LavaDLNet):
        raise TypeError(
            f"model: expected a model built by backends.adapters.lava_dl, got {type(model).__name__}"
        )
    return model


def _norm(model: LavaDLNet, name: str) -> torch.nn.Module | None:
    """The batch norm in the neuron's ``norm`` hook of layer ``name``, or None."""
    block = model.unit(name)
    return getattr(block.neuron, "norm", None) if hasattr(block, "neuron") else None


def canonical_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights keyed by spec layer names, in PyTorch's layouts (detached copies).

    Keys: ``{layer}.weight`` (conv ``(O, C, kh, kw)``, linear ``(O, F)``); for layers with batch
    norm also ``{layer}.bn.weight``, ``.bias``, ``.running_mean``, ``.running_var`` ``(O,)`` and
    ``.num_batches_tracked`` (the keys of ``torch.nn.BatchNorm2d.state_dict()``). With
    ``LavaDLOptions(quantize_weights=True)`` these are the stored float weights; the synapses
    apply SLAYER's 8-bit pre-hook to them in every forward pass.

    Raises:
        TypeError: ``model`` was not built by this adapter.
    """
    net = _check_model(model)
    out: dict[str, torch.Tensor] = {}
    for name in net.unit_names:
        w = net.unit(name).synapse.weight.detach()
        if net.unit_kinds[name] == "conv":
            out[f"{name}.weight"] = w[..., 0].clone()
        else:
            out[f"{name}.weight"] = w.reshape(w.shape[0], w.shape[1]).clone()
        norm = _norm(net, name)
        if norm is not None:
            for key, value in norm.state_dict().items():
                out[f"{name}.bn.{key}"] = value.detach().clone()
    return out


def load_canonical_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy weights keyed by spec layer names (see :func:`canonical_state`) into ``model``.

    Raises:
        TypeError: ``model`` was not built by this adapter.
        KeyError: ``state`` lacks keys the model needs or has keys it does not know (both listed).
        ValueError: a tensor's shape differs from the layer's (names the key and both shapes).
    """
    net = _check_model(model)
    check_state_matches(canonical_state(net), state)
    with torch.no_grad():
        for name in net.unit_names:
            syn = net.unit(name).synapse
            syn.weight.copy_(state[f"{name}.weight"].reshape(syn.weight.shape))
            norm = _norm(net, name)
            if norm is not None:
                prefix = f"{name}.bn."
                norm.load_state_dict(
                    {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
                )


def export_hdf5(model: torch.nn.Module, path: str | Path) -> Path:
    """Write the SLAYER blocks' own hdf5 description (``block.export_hdf5``) to ``path``.

    Layout as lava-dl's examples: group ``layer/{i}`` per block (``conv``, ``flatten``,
    ``dense``), with attributes ``name`` (spec layer name) and ``max_pool`` (the max-pool size
    after the layer, 0 if none). Max pooling has no SLAYER block or Loihi equivalent, so the file
    describes the layers but is not a network netx could run as is.

    Raises:
        TypeError: ``model`` was not built by this adapter.
        ValueError: the model has batch norm or residual connections (SLAYER's hdf5 format has
            no standard batch norm and no SEW ADD).
        RuntimeError: no forward pass has run yet (SLAYER sets neuron shapes on the first one).
    """
    import h5py
    import numpy as np

    net = _check_model(model)
    if not isinstance(net, SlayerConvNet):
        raise ValueError(
            f"export_hdf5: {net.arch_name} has residual connections and batch norm, which "
            "SLAYER's hdf5 network description cannot express"
        )
    if any(_norm(net, n) is not None for n in net.unit_names):
        raise ValueError(f"export_hdf5: {net.arch_name} has batch norm, not exportable")
    for name in net.unit_names[:-1]:
        if net.unit(name).neuron.shape is None:
            raise RuntimeError("export_hdf5: run one forward pass first (neuron shapes unset)")
    path = Path(path)
    order: list[tuple[str, torch.nn.Module]] = [(n, net.unit(n)) for n in net._conv_names]
    order.append(("flatten", net.flatten))
    order += [(n, net.unit(n)) for n in net._dense_names]
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        for i, (name, block) in enumerate(order):
            group = layers.create_group(str(i))
            block.export_hdf5(group)
            group.attrs["name"] = name
            group.attrs["max_pool"] = int(net.pools.get(name, 0))
        f.attrs["arch"] = net.arch_name
        f.attrs["input_shape_TCHW"] = np.array(net.input_shape)
        f.attrs["lava_dl"] = _dist_version(LAVA_DL_DIST)
    log.info("exported %s to %s", net.arch_name, path)
    return path


