"""The CUBA neuron that realises a :class:`~backends.specs.NeuronSpec` (fixed point, threshold,
decays), the float-weight pre-hook, the build options and a synapse's connection geometry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from backends.adapters.lava_dl.slayer import (
    SCALE_RHO_MULT,
    SLAYER_P_SCALE,
    SLAYER_W_SCALE,
    TAU_RHO_MULT,
    import_slayer,
)
from backends.specs import NeuronSpec

log = logging.getLogger(__name__)


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
The model :func:`backends.nir_exchange.export.export_lava_hdf5` exports with ``loihi2=True`` and the one
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


