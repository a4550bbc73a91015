"""lava-dl SLAYER adapter: compiles the architecture specs into SLAYER blocks with CUBA neurons.

The layout conversion, the compiled layers, the neuron mapping (:func:`cuba_mapping`: fixed
point, threshold, decays), the surrogate gradient, the CUDA extension and the import workaround
are described, with their lava-dl 0.6.0 sources, in ``docs/backends.md`` ("The lava-dl
adapter").
"""

from __future__ import annotations

import abc
import functools
import importlib
import importlib.metadata
import logging
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from backends.activity import ActivityRecorder
from backends.base import BackendUnavailableError, ForwardOutput, LayerActivity, register_backend
from backends.blocks.plans import check_input_shape, convnet_plan, resnet_plan
from backends.equality import Equality, check_state_matches
from backends.specs import ConvNetSpec, NeuronSpec, ResNetSpec, SEENSpec, get_arch

log = logging.getLogger(__name__)

LAVA_DL_DIST = "lava-dl"
"""Distribution name of lava-dl on PyPI (for :func:`versions`)."""

SLAYER_W_SCALE = 1 << 6
"""SLAYER's ``scale`` = ``w_scale``: weights and threshold in units of 1/64 (``neuron/cuba.py``,
``Neuron.__init__`` default ``scale=1 << 6``; ``neuron/base.py`` quantizes the threshold with
it)."""

SLAYER_S_SCALE = SLAYER_W_SCALE * (1 << 6)
"""SLAYER's state scale ``s_scale = scale * (1 << 6)`` = 4096 (``neuron/cuba.py``)."""

SLAYER_P_SCALE = 1 << 12
"""SLAYER's parameter scale for decays, 4096 (``neuron/cuba.py``, ``p_scale=1 << 12``)."""

TAU_RHO_MULT = 100.0
"""Multiplier of ``tau_rho`` in SLAYER's spike function (``neuron/cuba.py``, ``TAU_RHO_MULT``)."""

SCALE_RHO_MULT = 0.1
"""Multiplier of ``scale_rho`` in SLAYER's spike function (``neuron/cuba.py``,
``SCALE_RHO_MULT``)."""

_OBD_MODULE = "lava.lib.dl.slayer.object_detection"


# --------------------------------------------------------------------------------------------
# import


def import_slayer() -> types.ModuleType:
    """Import and return ``lava.lib.dl.slayer``.

    ``lava/lib/dl/slayer/__init__.py`` imports its ``object_detection`` subpackage, which imports
    torchvision and OpenCV; neither is a dependency of this project (and they must not be
    installed just for this). We never use object detection, so an empty module is registered
    under that name in ``sys.modules`` before the import, which then succeeds without them.

    Raises:
        BackendUnavailableError: lava-dl is missing or fails to import (message says why), or its
            spike-function constants differ from those this adapter's mapping assumes.
    """
    if "lava.lib.dl.slayer" not in sys.modules and _OBD_MODULE not in sys.modules:
        stub = types.ModuleType(_OBD_MODULE)
        stub.__doc__ = "Empty stand-in registered by backends.adapters.lava_dl (needs torchvision, cv2)."
        sys.modules[_OBD_MODULE] = stub
        log.debug("registered an empty %s (it needs torchvision and OpenCV)", _OBD_MODULE)
    try:
        slayer = importlib.import_module("lava.lib.dl.slayer")
    except Exception as exc:  # ImportError, or anything lava-dl raises on import
        raise BackendUnavailableError(
            f"lava-dl (lava.lib.dl.slayer) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    cuba = slayer.neuron.cuba
    if (cuba.TAU_RHO_MULT, cuba.SCALE_RHO_MULT) != (TAU_RHO_MULT, SCALE_RHO_MULT):
        raise BackendUnavailableError(
            "lava-dl's spike-function constants changed: TAU_RHO_MULT, SCALE_RHO_MULT = "
            f"{cuba.TAU_RHO_MULT}, {cuba.SCALE_RHO_MULT} (expected {TAU_RHO_MULT}, "
            f"{SCALE_RHO_MULT}); update backends/adapters/lava_dl.py"
        )
    if torch.cuda.is_available():
        jitconfig = importlib.import_module("lava.lib.dl.slayer.jitconfig")
        jitconfig.TORCH_CUDA_ARCH_LIST = cuda_arch_list(torch.cuda.get_device_capability(0))
    return slayer


def cuda_arch_list(capability: tuple[int, int]) -> str:
    """``TORCH_CUDA_ARCH_LIST`` for SLAYER's JIT-compiled kernels on a device of compute
    ``capability`` ``(major, minor)``: that architecture itself (``(9, 0)`` -> ``"9.0"``, code for
    ``sm_90``), replacing lava-dl's ``jitconfig`` value ``"8.0"`` for every capability >= 8 (the
    ``sm_80`` code does not run on ``sm_90``, and it carries no PTX to compile there).

    Raises:
        ValueError: a capability that is not two non-negative integers.
    """
    major, minor = capability
    if not (isinstance(major, int) and isinstance(minor, int) and major >= 0 and minor >= 0):
        raise ValueError(f"compute capability: expected (major, minor) integers, got {capability!r}")
    return f"{major}.{minor}"


# --------------------------------------------------------------------------------------------
# neuron mapping


@dataclass(frozen=True)
class CubaMapping:
    """The CUBA neuron parameters that realise a :class:`NeuronSpec` (see docs/backends.md, "The lava-dl adapter").

    Attributes:
        scale: SLAYER's ``scale`` (``w_scale``); states are integers in units of
            ``1 / (64 * scale)``.
        threshold: SLAYER ``threshold`` argument (the spec's threshold).
        threshold_effective: the threshold SLAYER uses, ``int(threshold * scale) / scale``
            (``neuron/base.py``, ``Neuron.__init__``).
        current_decay: SLAYER ``current_decay``, always 1 (current = synaptic input of the step).
        voltage_decay: SLAYER ``voltage_decay`` = ``1 - beta`` (0 for IF).
        voltage_decay_int: the stored decay, ``round(4096 * voltage_decay)`` (``p_scale``)
            (``neuron/cuba.py``, ``cx_voltage_decay``).
        beta_effective: the decay factor SLAYER applies, ``1 - voltage_decay_int / 4096``.
        tau_grad, scale_grad: SLAYER's surrogate arguments, chosen so that
            ``tau_rho = 1 / alpha`` and ``scale_rho`` = area of the spec's surrogate.
        tau_rho, scale_rho: the Laplace kernel's width (voltage units) and area.
    """

    scale: int
    threshold: float
    threshold_effective: float
    current_decay: float
    voltage_decay: float
    voltage_decay_int: int
    beta_effective: float
    tau_grad: float
    scale_grad: float
    tau_rho: float
    scale_rho: float

    def neuron_params(self) -> dict[str, Any]:
        """Keyword arguments of ``slayer.neuron.cuba.Neuron`` (and ``neuron_params`` of the
        ``slayer.block.cuba`` blocks)."""
        return {
            "threshold": self.threshold,
            "current_decay": self.current_decay,
            "voltage_decay": self.voltage_decay,
            "tau_grad": self.tau_grad,
            "scale_grad": self.scale_grad,
            "scale": self.scale,
            "shared_param": True,
            "persistent_state": False,
            "requires_grad": False,
            "graded_spike": False,
        }


def cuba_mapping(neuron: NeuronSpec, scale: int = SLAYER_W_SCALE) -> CubaMapping:
    """Map a :class:`NeuronSpec` to SLAYER CUBA parameters (formulas in docs/backends.md, "The lava-dl adapter").

    ``scale`` is SLAYER's ``scale`` (default ``1 << 6``, Loihi's); a larger power of two makes the
    fixed-point states finer (unit ``1 / (64 * scale)``) and the dynamics closer to float.

    Surrogate matching (peak ``p`` and area ``A`` of the spec's surrogate derivative; SLAYER's
    Laplace kernel ``scale_rho / (2 tau_rho) exp(-|x| / tau_rho)`` has peak
    ``scale_rho / (2 tau_rho)`` and area ``scale_rho``): ``scale_rho = A``,
    ``tau_rho = A / (2 p)``; ``tau_grad = tau_rho / (TAU_RHO_MULT * threshold_effective)``,
    ``scale_grad = scale_rho / SCALE_RHO_MULT`` (``neuron/cuba.py``, ``Neuron.spike``).
    ATan (Fang et al., ICCV 2021): ``p = alpha / 2``, ``A = 1``; fast sigmoid (Zenke & Ganguli,
    2018, ``1 / (1 + alpha |x|)^2``): ``p = 1``, ``A = 2 / alpha``.

    Raises:
        ValueError: ``reset`` is not ``"zero"`` (CUBA resets to zero only), ``model``,
            ``surrogate`` unknown, ``beta`` outside (0, 1], ``threshold`` below ``1 / scale``
            (SLAYER's threshold step), ``surrogate_alpha`` not positive, or ``scale`` not a power
            of two in [1, 2**16].
    """
    if not isinstance(scale, int) or scale < 1 or scale > 1 << 16 or scale & (scale - 1):
        raise ValueError(f"scale: expected a power of two in [1, 65536], got {scale!r}")
    if neuron.model not in ("lif", "if"):
        raise ValueError(f"neuron.model: expected 'lif' or 'if', got {neuron.model!r}")
    if neuron.reset != "zero":
        raise ValueError(
            f"neuron.reset={neuron.reset!r} cannot be expressed in lava-dl: SLAYER's CUBA neuron "
            "resets the voltage to zero after a spike (neuron/dynamics/leaky_integrator.py, "
            "_li_dynamics_fwd); only reset='zero' is supported"
        )
    beta = neuron.decay
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"neuron.beta: expected a value in (0, 1], got {neuron.beta!r}")
    th_eff = int(neuron.threshold * scale) / scale
    if th_eff <= 0:
        raise ValueError(
            f"neuron.threshold: expected at least 1/{scale} (SLAYER's threshold step), "
            f"got {neuron.threshold!r}"
        )
    if th_eff != neuron.threshold:
        log.warning(
            "neuron.threshold=%r is not a multiple of 1/%d: SLAYER uses %r",
            neuron.threshold,
            scale,
            th_eff,
        )
    alpha = float(neuron.surrogate_alpha)
    if not alpha > 0:
        raise ValueError(f"neuron.surrogate_alpha: expected > 0, got {neuron.surrogate_alpha!r}")
    if neuron.surrogate == "atan":
        peak, area = alpha / 2.0, 1.0
    elif neuron.surrogate == "fast_sigmoid":
        peak, area = 1.0, 2.0 / alpha
    else:
        raise ValueError(
            f"neuron.surrogate: expected 'atan' or 'fast_sigmoid', got {neuron.surrogate!r}"
        )
    tau_rho = area / (2.0 * peak)
    voltage_decay = 1.0 - beta
    decay_int = int(round(SLAYER_P_SCALE * voltage_decay))
    return CubaMapping(
        scale=scale,
        threshold=float(neuron.threshold),
        threshold_effective=th_eff,
        current_decay=1.0,
        voltage_decay=voltage_decay,
        voltage_decay_int=decay_int,
        beta_effective=1.0 - decay_int / SLAYER_P_SCALE,
        tau_grad=tau_rho / (TAU_RHO_MULT * th_eff),
        scale_grad=area / SCALE_RHO_MULT,
        tau_rho=tau_rho,
        scale_rho=area,
    )


def _prepare_neuron(neuron: torch.nn.Module, strict_threshold: bool) -> None:
    """Finish a CUBA neuron built by ``slayer.neuron.cuba.Neuron(**neuron_params)``.

    * its ``current_decay`` / ``voltage_decay`` are created as
      ``torch.nn.Parameter(requires_grad=False)`` (``neuron/cuba.py``): they become buffers, so
      they stay in the state dict and move with ``.to(device)`` but are not counted as parameters
      and never reach an optimizer;
    * ``threshold_eps`` (``0.01 / s_scale``, ``neuron/cuba.py``) is set to 0 unless
      ``strict_threshold``, so that the neuron fires at ``v >= threshold`` (canonical ``H(0) = 1``).
    """
    for name in ("current_decay", "voltage_decay"):
        value = getattr(neuron, name).detach().clone()
        delattr(neuron, name)
        neuron.register_buffer(name, value)
    if not strict_threshold:
        neuron.threshold_eps = 0.0


def cuba_neuron(
    neuron: NeuronSpec,
    norm: Any = None,
    scale: int = SLAYER_W_SCALE,
    strict_threshold: bool = False,
) -> torch.nn.Module:
    """A standalone ``slayer.neuron.cuba.Neuron`` for ``neuron`` (input/output ``(N, ..., T)``).

    Args:
        neuron: the spec.
        scale: SLAYER's ``scale`` (see :func:`cuba_mapping`).
        strict_threshold: keep SLAYER's ``threshold_eps`` (fire only when ``v > threshold``).
        norm: optional zero-argument factory of a normalisation module applied to the current
            (SLAYER's ``norm`` hook), e.g. ``functools.partial(torch.nn.BatchNorm3d, C)``.

    Raises:
        ValueError: see :func:`cuba_mapping`.
        BackendUnavailableError: lava-dl cannot be imported.
    """
    slayer = import_slayer()
    params = cuba_mapping(neuron, scale).neuron_params()
    if norm is not None:
        params["norm"] = norm
    out = slayer.neuron.cuba.Neuron(**params)
    _prepare_neuron(out, strict_threshold)
    return out


# --------------------------------------------------------------------------------------------
# weights pre-hook


class FloatWeights:
    """Synapse pre-hook that keeps float weights (replaces SLAYER's ``quantize_8bit``).

    Called like ``slayer.neuron.base.Neuron.quantize_8bit``: ``hook(weight, descale=False)``;
    with ``descale=True`` (used by ``export_hdf5``) it returns the weights in SLAYER's integer
    units, ``weight * scale``. A class rather than a lambda so that models pickle and deep-copy.
    """

    def __init__(self, scale: int = SLAYER_W_SCALE) -> None:
        self.scale = scale

    def __call__(self, weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
        return weight * self.scale if descale else weight


@dataclass(frozen=True)
class LavaDLOptions:
    """Build options of the lava-dl backend.

    Attributes:
        quantize_weights: keep SLAYER's 8-bit weight pre-hook (``neuron.quantize_8bit``: step
            ``2 / scale``, range ``[-256, 254] / scale``); default: float weights like the other
            backends.
        scale: SLAYER's neuron ``scale`` (power of two; default ``1 << 6``, Loihi's fixed point,
            states in units of 1/4096). ``1 << 12`` gives states in units of 2**-18, close to
            float arithmetic (exported parameters then no longer fit Loihi).
        strict_threshold: keep SLAYER's ``threshold_eps`` so that neurons fire only when
            ``v > threshold`` (Loihi's comparison); default: fire at ``v >= threshold``, the
            canonical neuron's ``H(0) = 1``.
    """

    quantize_weights: bool = False
    scale: int = SLAYER_W_SCALE
    strict_threshold: bool = False


LOIHI2_OPTIONS = LavaDLOptions(quantize_weights=True, strict_threshold=True)
"""The lava-dl build at Loihi 2's precision: SLAYER's 8-bit weights (``quantize_8bit``: even
integers in ``[-256, 254]`` in units of 1/64, what lava-dl's netx maps onto Loihi's synapses
unchanged) and Loihi's strict threshold (a neuron fires when ``v > vth``, Lava's ``PyLifModelBitAcc``).
The model :func:`backends.nir_exchange.export_lava_hdf5` exports with ``loihi2=True`` and the one
``tools/loihi/loihi_check.py`` compares with Lava's fixed-point simulation."""


class _ConnectionGeometry(torch.nn.Module):
    """A Conv2d / Linear look-alike (``weight``, ``stride``, ``padding``, ``dilation``,
    ``groups``) of a SLAYER synapse, for :func:`backends.activity.connection_ops`.

    ``weight`` is the synapse's effective weight (after its pre-hook) reshaped to PyTorch's
    layout: ``(O, C, kh, kw)`` for a conv, ``(O, F)`` for a dense synapse.
    """

    def __init__(self, synapse: torch.nn.Module, kind: str) -> None:
        super().__init__()
        with torch.no_grad():
            hook = getattr(synapse, "_pre_hook_fx", None)
            w = synapse.weight if hook is None else hook(synapse.weight)
            w = w.detach()
        if kind == "conv":
            self.weight = w[..., 0]
            self.stride = tuple(synapse.stride[:2])
            self.padding = tuple(synapse.padding[:2])
            self.dilation = tuple(synapse.dilation[:2])
            self.groups = synapse.groups
        else:
            self.weight = w.reshape(w.shape[0], w.shape[1])


# --------------------------------------------------------------------------------------------
# models


class LavaDLNet(torch.nn.Module, abc.ABC):
    """Common part of the compiled SLAYER models.

    Attributes:
        arch_name: the spec's name.
        input_shape: ``(T, 2, H, W)`` the model was built for.
        num_classes: ``K``.
        unit_names: spec layer names in execution order (the readout last).
        unit_kinds: ``{name: "conv" | "linear"}``.
        mapping: the :class:`CubaMapping` of the hidden neurons.
        options: the :class:`LavaDLOptions` it was built with.
    """

    arch_name: str
    input_shape: tuple[int, int, int, int]
    num_classes: int
    unit_names: tuple[str, ...]
    unit_kinds: dict[str, str]
    mapping: CubaMapping
    options: LavaDLOptions

    def unit(self, name: str) -> torch.nn.Module:
        """The SLAYER block of spec layer ``name``.

        Raises:
            KeyError: unknown layer name.
        """
        if name not in self.unit_kinds:
            raise KeyError(f"layer {name!r} is not in {self.arch_name}: {list(self.unit_names)}")
        return self.get_submodule(name)

    def _run_unit(
        self,
        name: str,
        h: torch.Tensor,
        rec: ActivityRecorder | None,
        spikes: dict[str, torch.Tensor] | None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run block ``name`` on ``h`` (``(N, C, H, W, T)`` or ``(N, F, T)``), recording the
        synaptic operations on its input and the spikes of its output; the readout's input goes
        to ``capture["features"]`` (``(N, F, T)``) when ``capture`` is given."""
        block = self.get_submodule(name)
        kind = self.unit_kinds[name]
        if capture is not None and name == self.unit_names[-1]:
            capture["features"] = h
        if rec is not None:
            geom = _ConnectionGeometry(block.synapse, kind)
            for t in range(h.shape[-1]):
                rec.ops(name, kind, h[..., t], geom)
        out = block(h)
        if rec is not None and name != self.unit_names[-1]:
            rec.spikes(name, kind, out, steps=out.shape[-1])
        if spikes is not None and name != self.unit_names[-1]:
            spikes[name] = out.detach().movedim(-1, 1)
        return out

    @abc.abstractmethod
    def run(
        self,
        x: torch.Tensor,
        recorder: ActivityRecorder | None = None,
        spikes: dict[str, torch.Tensor] | None = None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Run on SLAYER-layout input ``x`` ``(N, 2, H, W, T)``; return the readout current
        ``(N, K, T)``. ``recorder`` collects activity; ``spikes`` (if given) receives each hidden
        layer's spike tensor in boundary layout ``(N, T, C, H, W)`` / ``(N, T, F)``; ``capture``
        (if given) receives the readout's input ``(N, F, T)`` as ``"features"``."""

    def apply_readout(self, features: torch.Tensor) -> torch.Tensor:
        """The readout block on time-averaged features ``(N, F)`` -> ``(N, K)``: the block runs on
        a one-step input ``(N, F, 1)``. The readout is a synapse without neuron dynamics
        (``cuba.Affine(dynamics=False)``), linear in its input, so on
        :attr:`ForwardOutput.features <backends.base.ForwardOutput.features>` this equals the
        logits (the mean over time of the readout current)."""
        block = self.get_submodule(self.unit_names[-1])
        return block(features.unsqueeze(-1))[..., 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(N, 2, H, W, T)`` (SLAYER layout) -> readout current ``(N, K, T)``."""
        return self.run(x)


class SlayerConvNet(LavaDLNet):
    """A :class:`ConvNetSpec` compiled to SLAYER CUBA blocks (see docs/backends.md, "The lava-dl adapter").

    Submodules are named after the spec layers (tiny: ``conv1``, ``conv2``, ``conv3``, ``fc``);
    each is a ``slayer.block.cuba`` block with ``.synapse`` and ``.neuron``.
    """

    def __init__(
        self,
        slayer: types.ModuleType,
        spec: ConvNetSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
        options: LavaDLOptions,
    ) -> None:
        super().__init__()
        self.arch_name = spec.name
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.options = options
        self.mapping = cuba_mapping(spec.neuron, options.scale)
        if not spec.denses:
            raise ValueError(f"{spec.name}.denses: expected at least the readout layer, got ()")
        hook = {} if options.quantize_weights else {"pre_hook_fx": FloatWeights(options.scale)}
        cuba = slayer.block.cuba
        try:  # layer shapes as every torch backend plans them (one place: backends.blocks.plans)
            conv_plans, dense_plans = convnet_plan(spec, input_shape, num_classes, fold=False)
        except ValueError as exc:
            raise ValueError(f"input_shape {input_shape}: {exc}") from exc
        names: list[str] = []
        kinds: dict[str, str] = {}
        self.pools: dict[str, int] = {}
        for layer, plan in zip(spec.convs, conv_plans, strict=True):
            params = self.mapping.neuron_params()
            if layer.batch_norm:
                params["norm"] = functools.partial(torch.nn.BatchNorm3d, layer.out_channels)
            block = cuba.Conv(
                neuron_params=params,
                in_features=plan.in_channels,
                out_features=layer.out_channels,
                kernel_size=layer.kernel_size,
                stride=layer.stride,
                padding=layer.padding,
                delay_shift=False,
                **hook,
            )
            _prepare_neuron(block.neuron, options.strict_threshold)
            self.add_module(layer.name, block)
            names.append(layer.name)
            kinds[layer.name] = "conv"
            if layer.pool:
                self.pools[layer.name] = layer.pool
        self.flatten = cuba.Flatten()
        for layer, plan in zip(spec.denses, dense_plans, strict=True):
            readout, features, out = plan.readout, plan.in_features, plan.out_features
            if readout:
                block = cuba.Affine(
                    neuron_params=self.mapping.neuron_params(),
                    in_neurons=features,
                    out_neurons=out,
                    dynamics=False,
                    **hook,
                )
            else:
                block = cuba.Dense(
                    neuron_params=self.mapping.neuron_params(),
                    in_neurons=features,
                    out_neurons=out,
                    delay_shift=False,
                    **hook,
                )
            _prepare_neuron(block.neuron, options.strict_threshold)
            self.add_module(layer.name, block)
            names.append(layer.name)
            kinds[layer.name] = "linear"
        self.unit_names = tuple(names)
        self.unit_kinds = kinds
        self._conv_names = tuple(layer.name for layer in spec.convs)
        self._dense_names = tuple(layer.name for layer in spec.denses)

    def run(
        self,
        x: torch.Tensor,
        recorder: ActivityRecorder | None = None,
        spikes: dict[str, torch.Tensor] | None = None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """See :meth:`LavaDLNet.run`: ``(N, 2, H, W, T)`` -> ``(N, K, T)``."""
        h = x
        for name in self._conv_names:
            h = self._run_unit(name, h, recorder, spikes)
            if name in self.pools:
                p = self.pools[name]
                h = F.max_pool3d(h, kernel_size=(p, p, 1), stride=(p, p, 1))
        h = self.flatten(h)  # (N, C*H*W, T), PyTorch's flatten order (C, H, W)
        for name in self._dense_names:
            h = self._run_unit(name, h, recorder, spikes, capture)
        return h


class SEWBasicBlock(torch.nn.Module):
    """SEW BasicBlock (Fang et al., NeurIPS 2021, Fig. 1b, ADD): ``conv1``, ``conv2`` and an
    optional ``downsample``, each a ``slayer.block.cuba.Conv`` with a BatchNorm3d in its
    neuron's ``norm`` hook. The graph is run by :class:`SlayerSEWResNet`."""

    def __init__(
        self, conv1: torch.nn.Module, conv2: torch.nn.Module, downsample: torch.nn.Module | None
    ) -> None:
        super().__init__()
        self.conv1 = conv1
        self.conv2 = conv2
        self.downsample = downsample


class SlayerSEWResNet(LavaDLNet):
    """A :class:`ResNetSpec` (SEW-ResNet, ADD) compiled to SLAYER CUBA blocks.

    Submodules: ``stem``, ``layer{i}`` (a ``ModuleList`` of :class:`SEWBasicBlock`) and ``fc``,
    so that ``model.get_submodule("layer2.0.downsample")`` is the spec layer of that name.
    """

    def __init__(
        self,
        slayer: types.ModuleType,
        spec: ResNetSpec,
        input_shape: tuple[int, int, int, int],
        num_classes: int,
        options: LavaDLOptions,
    ) -> None:
        super().__init__()
        if spec.connect != "ADD":
            raise ValueError(f"{spec.name}.connect: only 'ADD' is supported, got {spec.connect!r}")
        if len(spec.blocks) != len(spec.channels):
            raise ValueError(
                f"{spec.name}.blocks / channels: expected the same length, got "
                f"{spec.blocks} and {spec.channels}"
            )
        self.arch_name = spec.name
        self.input_shape = input_shape
        self.num_classes = num_classes
        self.options = options
        self.mapping = cuba_mapping(spec.neuron, options.scale)
        hook = {} if options.quantize_weights else {"pre_hook_fx": FloatWeights(options.scale)}
        cuba = slayer.block.cuba
        names: list[str] = []
        kinds: dict[str, str] = {}

        def conv(name: str, cin: int, cout: int, k: int, stride: int, padding: int) -> Any:
            params = self.mapping.neuron_params()
            params["norm"] = functools.partial(torch.nn.BatchNorm3d, cout)
            block = cuba.Conv(
                neuron_params=params,
                in_features=cin,
                out_features=cout,
                kernel_size=k,
                stride=stride,
                padding=padding,
                delay_shift=False,
                **hook,
            )
            _prepare_neuron(block.neuron, options.strict_threshold)
            names.append(name)
            kinds[name] = "conv"
            return block

        _, c_in, h, w = input_shape
        try:  # the blocks as every torch backend plans them (one place: backends.blocks.plans)
            plans = resnet_plan(spec, (h, w))
        except ValueError as exc:
            raise ValueError(f"input_shape {input_shape}: {exc}") from exc
        k = spec.stem_kernel
        self.stem = conv("stem", c_in, spec.stem_channels, k, spec.stem_stride, k // 2)
        self._stage_names: list[str] = []
        stages: dict[str, list] = {}
        for plan in plans:
            stage = plan.name.split(".")[0]
            c1 = conv(f"{plan.name}.conv1", plan.in_channels, plan.out_channels, 3, plan.stride, 1)
            c2 = conv(f"{plan.name}.conv2", plan.out_channels, plan.out_channels, 3, 1, 1)
            ds = (conv(f"{plan.name}.downsample", plan.in_channels, plan.out_channels, 1,
                       plan.stride, 0) if plan.downsample else None)
            stages.setdefault(stage, []).append(SEWBasicBlock(c1, c2, ds))
        for stage, blocks in stages.items():
            self.add_module(stage, torch.nn.ModuleList(blocks))
            self._stage_names.append(stage)
        c = plans[-1].out_channels
        self.fc = cuba.Affine(
            neuron_params=self.mapping.neuron_params(),
            in_neurons=c,
            out_neurons=num_classes,
            dynamics=False,
            **hook,
        )
        _prepare_neuron(self.fc.neuron, options.strict_threshold)
        names.append("fc")
        kinds["fc"] = "linear"
        self.unit_names = tuple(names)
        self.unit_kinds = kinds

    def run(
        self,
        x: torch.Tensor,
        recorder: ActivityRecorder | None = None,
        spikes: dict[str, torch.Tensor] | None = None,
        capture: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """See :meth:`LavaDLNet.run`: ``(N, 2, H, W, T)`` -> ``(N, K, T)``."""
        h = self._run_unit("stem", x, recorder, spikes)
        h = F.max_pool3d(h, kernel_size=(3, 3, 1), stride=(2, 2, 1), padding=(1, 1, 0))
        for stage in self._stage_names:
            for j, _ in enumerate(self.get_submodule(stage)):
                p = f"{stage}.{j}"
                out = self._run_unit(f"{p}.conv1", h, recorder, spikes)
                out = self._run_unit(f"{p}.conv2", out, recorder, spikes)
                if f"{p}.downsample" in self.unit_kinds:
                    identity = self._run_unit(f"{p}.downsample", h, recorder, spikes)
                else:
                    identity = h
                h = out + identity  # SEW ADD (values 0, 1, 2)
        h = h.mean(dim=(2, 3))  # global average pool: (N, C, T)
        return self._run_unit("fc", h, recorder, spikes, capture)


# --------------------------------------------------------------------------------------------
# building, canonical weights, forward


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


def _to_slayer_layout(model: LavaDLNet, x: torch.Tensor) -> torch.Tensor:
    """Validate ``x`` ``(B, T, 2, H, W)`` and return it as ``(B, 2, H, W, T)`` float32 on the
    model's device."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 5 or tuple(x.shape[1:]) != tuple(model.input_shape):
        raise ValueError(
            f"x: expected shape (B, {', '.join(map(str, model.input_shape))}), got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"x: expected a floating-point tensor, got dtype {x.dtype}")
    device = next(model.parameters()).device
    return x.to(device=device, dtype=torch.float32).permute(0, 2, 3, 4, 1).contiguous()


def _output(current: torch.Tensor, batch: int, activity: list[LayerActivity],
            features: torch.Tensor | None = None) -> ForwardOutput:
    """Readout current ``(B, K, T)`` -> :class:`ForwardOutput` (cumulative means over time);
    ``features`` ``(B, F, T)`` (the readout's input) is averaged over time to ``(B, F)``."""
    steps = current.shape[-1]
    counts = torch.arange(1, steps + 1, device=current.device, dtype=current.dtype)
    per_step = (current.cumsum(dim=-1) / counts).permute(0, 2, 1)  # (B, T, K)
    return ForwardOutput(
        logits=per_step[:, -1], logits_per_step=per_step, activity=activity, batch_size=batch,
        features=features.mean(dim=-1) if features is not None else None,
    )


def forward_with_spikes(
    model: torch.nn.Module, x: torch.Tensor, *, record_activity: bool = False
) -> tuple[ForwardOutput, dict[str, torch.Tensor]]:
    """Like :meth:`LavaDLBackend.forward`, also returning every hidden layer's spike train.

    Returns:
        ``(output, spikes)``: ``spikes[name]`` is ``(B, T, C, H, W)`` (conv) or ``(B, T, F)``
        (dense), detached, for every spec layer but the readout.
    """
    net = _check_model(model)
    spikes: dict[str, torch.Tensor] = {}
    out = _forward(net, x, record_activity, spikes)
    return out, spikes


def _forward(
    net: LavaDLNet, x: torch.Tensor, record_activity: bool, spikes: dict[str, torch.Tensor] | None
) -> ForwardOutput:
    xs = _to_slayer_layout(net, x)
    rec = ActivityRecorder() if record_activity else None
    cap: dict[str, torch.Tensor] = {}
    current = net.run(xs, rec, spikes, cap)  # (B, K, T)
    # the readout has ops but no neurons: neurons 0, time_steps from its ops (activity.py)
    activity: list[LayerActivity] = rec.layers() if rec is not None else []
    return _output(current, xs.shape[0], activity, cap.get("features"))


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


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------------------------
# the backend


class LavaDLBackend:
    """The ``lava-dl`` backend (SLAYER, CUBA neurons); see docs/backends.md, "The lava-dl adapter".

    Args:
        options: :class:`LavaDLOptions` (default: float weights, SLAYER's default scale).
    """

    name = "lava-dl"
    unsupported = {"seen": SEEN_UNSUPPORTED}  # arch name -> why it cannot be compiled
    spiking = True
    amp_support = (False, "SLAYER's CUDA kernels take float32 only (data<float>() in "
                          "leaky_integrator.cu): trained and run in float32")
    equality = Equality(
        "bounded", eps=0.1,
        reason="SLAYER keeps decays as round(4096 d) and truncates states to 1/4096 each step; neurons within ~T/4096 of threshold can flip and a flip propagates (measured with float weights: tiny >= 0.99, sew_resnet18 >= 0.92 identical spikes per layer; exact on the fixed-point grid)",
    )

    def __init__(self, options: LavaDLOptions | None = None) -> None:
        self.options = options or LavaDLOptions()

    def available(self) -> tuple[bool, str]:
        """``(True, "")`` if ``lava.lib.dl.slayer`` imports, else ``(False, reason)``; never
        raises."""
        try:
            import_slayer()
        except Exception as exc:
            return False, str(exc)
        return True, ""

    def build(
        self, arch: Any, input_shape: tuple[int, int, int, int], num_classes: int
    ) -> LavaDLNet:
        """See :func:`build_model` (raises ``BackendUnavailableError``, ``ValueError``)."""
        return build_model(arch, input_shape, num_classes, self.options)

    def forward(
        self,
        model: torch.nn.Module,
        x: torch.Tensor,
        *,
        frames: torch.Tensor | None = None,
        record_activity: bool = False,
    ) -> ForwardOutput:
        """Run ``model`` on ``x`` ``(B, T, 2, H, W)``. Every architecture this adapter builds
        takes events only, so ``frames`` must be None (else ValueError).

        Returns:
            :class:`ForwardOutput` with ``logits`` ``(B, K)`` = mean over the T steps of the
            readout's current, ``logits_per_step`` ``(B, T, K)`` (mean over the first t steps)
            and, with ``record_activity``, one :class:`LayerActivity` per spec layer (summed over
            the batch; the readout has ops but no spikes).

        Raises:
            TypeError: ``model`` was not built by this adapter or ``x`` is not a tensor.
            ValueError: ``x`` has the wrong shape or dtype, or ``frames`` was given.
        """
        net = _check_model(model)
        if frames is not None:
            raise ValueError(
                f"frames: architecture {net.arch_name!r} takes events only; got frames"
            )
        return _forward(net, x, record_activity, None)

    def versions(self) -> dict[str, str]:
        """``{"lava-dl": ..., "torch": ...}``; never raises."""
        return {"lava-dl": _dist_version(LAVA_DL_DIST), "torch": torch.__version__}


BACKEND = register_backend(LavaDLBackend())
"""The registered ``lava-dl`` backend (float weights)."""
