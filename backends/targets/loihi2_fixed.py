"""Loihi 2 precision: a spec'd model quantised as lava-dl 0.6.0's netx export and Lava 0.10's
fixed-point process models compute it. The one source of the suite's Loihi 2 quantisation: the
deployment evaluation (:mod:`benchmarks.deploy`) and the check against Lava itself use it.

Numbers come from the target file (``backends/targets/loihi2.toml``: ``precision.weight_scale``
= 64, ``precision.decay_bits`` = 12, ``precision.state_bits`` = 24,
``precision.activation_shift`` = 6, ``precision.threshold_bits`` = 17), each with its source.

* Weights (:func:`quantize_weight`): lava-dl's ``Neuron.quantize_8bit(w, descale=True)``
  (``slayer/neuron/base.py``): ``round(w / (2 / w_scale)) * (2 / w_scale)`` clamped to
  ``[-256, 254] / w_scale``, times ``w_scale``: even integers in ``[-256, 254]`` (8 significant
  bits), in units of ``1 / w_scale``. netx's ``optimize_weight_bits`` stores them as an 8-bit
  mantissa and an exponent; Lava's ``PyDenseModelBitAcc`` shifts the accumulation back, which is
  exact on this grid, so the synaptic input of a step is ``sum(w_int * s)``.
* Decays (:func:`decays`): lava-dl's ``cx_current_decay`` / ``cx_voltage_decay``
  (``neuron/cuba.py``): ``round(4096 d)``; netx (``netx/hdf5.py``) passes ``du = iDecay - 1``,
  ``dv = vDecay``; Lava's ``AbstractPyLifModelFixed`` adds ``ds_offset = 1`` to ``du`` and
  ``dm_offset = 0`` to ``dv``. The spec's neuron (``v = beta v + I``) is CUBA with current decay
  1 (``iDecay = 4096``) and voltage decay ``1 - beta``.
* Threshold: ``vThMant = int(threshold * w_scale)`` (``Neuron.v_th_mant``), compared as
  ``v > vThMant << 6`` (``PyLifModelBitAcc.scale_threshold`` and ``spiking_activation``: strict).
* Dynamics (:class:`Loihi2Neuron`, ``AbstractPyLifModelFixed.subthr_dynamics``):
  ``u = sign(u) (|u| (4096 - du - 1) >> 12) + (a << 6)``, wrapped to 24 bits;
  ``v = clip(sign(v) (|v| (4096 - dv) >> 12) + u, -(2^23 - 1), 2^23 - 1)``; spiking neurons reset
  to 0. ``a`` is the step's synaptic input in weight units, so ``u`` and ``v`` are in units of
  ``1 / (64 w_scale)``.
* Readout: an affine block without dynamics (``cuba.Affine(dynamics=False)``); its value is the
  step's synaptic input ``a / w_scale``, compared with the float model's current.

Not modelled: the one-step delay per layer on the chip (see :mod:`backends.targets.fixed`), the
16-bit precision tag of Lava's ``a_out`` port (the accumulation is kept in full, as Lava's numpy
int32 does).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backends.specs import ConvNetSpec
from backends.targets.fixed import NeuronModel, QuantLayer, spec_layers
from backends.targets.target import Target, TargetFileError, get_target


def _precision(target: Target) -> tuple[int, int, int, int, int]:
    """``(w_scale, decay_unity, uv_bits, act_shift, vth_bits)`` from the target file."""
    keys = ("precision.weight_scale", "precision.decay_bits", "precision.state_bits",
            "precision.activation_shift", "precision.threshold_bits")
    for key in keys:
        if not isinstance(target.value(key), int):
            raise TargetFileError(f"{target.path}: field {key!r}: {target.value(key)!r} is not "
                                  "an integer (needed for Loihi 2's fixed point)")
    w, d, s, a, t = (target.value(k) for k in keys)
    return w, 1 << d, s, a, t


def quantize_weight(weight: torch.Tensor, w_scale: int = 64) -> torch.Tensor:
    """Float weights -> lava-dl's 8-bit integers (``quantize_8bit(w, descale=True)``), int64,
    even values in ``[-256, 254]``, in units of ``1 / w_scale``."""
    step = 2 / w_scale
    q = (torch.round(weight.detach().cpu().to(torch.float64) / step) * step)
    q = q.clamp(-256 / w_scale, 254 / w_scale) * w_scale
    return torch.round(q).to(torch.int64)


def decays(beta: float, decay_unity: int = 4096) -> tuple[int, int]:
    """``(du, dv)`` as netx gives them to Lava's LIF for the spec's neuron ``v = beta v + I``:
    ``du = round(4096 * 1) - 1 = 4095`` (current fully replaced each step), ``dv = round(4096 (1 -
    beta))`` (Python's and torch's round: half to even)."""
    return decay_unity - 1, int(round(decay_unity * (1.0 - beta)))


def threshold_mantissa(threshold: float, w_scale: int = 64) -> int:
    """``vThMant = int(threshold * w_scale)`` (lava-dl ``Neuron.v_th_mant``)."""
    return int(threshold * w_scale)


@dataclass(frozen=True)
class Loihi2Neuron(NeuronModel):
    """Lava's bit-accurate LIF (``PyLifModelBitAcc``) for one layer; the state is ``(u, v)``
    int64 tensors. See the module docstring for the arithmetic.

    Attributes:
        du, dv: 12-bit decays as netx passes them (``du = iDecay - 1``, ``dv = vDecay``).
        vth_mant: ``vThMant`` (17 bits unsigned).
        decay_unity: ``2 ** 12``; uv_bits: 24; act_shift: 6 (the input and threshold shift).
    """

    du: int
    dv: int
    vth_mant: int
    decay_unity: int = 4096
    uv_bits: int = 24
    act_shift: int = 6

    def init(self, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(current.shape, dtype=torch.int64)
        return z, z.clone()

    def _decay(self, x: torch.Tensor, d: int) -> torch.Tensor:
        shift = self.decay_unity.bit_length() - 1
        return torch.sign(x) * ((x.abs() * (self.decay_unity - d)) >> shift)

    def step(self, state: tuple[torch.Tensor, torch.Tensor], current: torch.Tensor
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        u, v = state
        a = torch.round(current).to(torch.int64)
        top = 1 << (self.uv_bits - 1)
        cur = self._decay(u, self.du + 1) + (a << self.act_shift)  # ds_offset = 1
        wrapped = torch.where(cur > top, cur - 2 * top, cur)
        u = torch.where(wrapped <= -top, cur + 2 * top, wrapped)
        v = (self._decay(v, self.dv) + u).clamp(-top + 1, top - 1)  # dm_offset = 0
        s = v > (self.vth_mant << self.act_shift)
        return s, (u, torch.where(s, torch.zeros_like(v), v))


def quantize(spec: ConvNetSpec, state: dict[str, torch.Tensor], num_classes: int,
             target: str | Target = "loihi2", in_channels: int = 2) -> list[QuantLayer]:
    """The layers of ``spec`` with ``state``'s float weights at Loihi 2's precision.

    Args:
        spec: a conv-net spec without batch norm or pooling.
        state: ``{layer}.weight`` float tensors (:func:`backends.nir_exchange.common.canonical_state`).
        num_classes: the readout's outputs.
        target: a target of family ``"loihi2"`` (name or object).
        in_channels: input channels.

    Raises:
        TargetFileError: a precision field of the target is missing or not an integer.
        ValueError: a neuron the chip cannot run (reset other than zero; a threshold whose
            mantissa is below 1 or above the threshold bits), or see
            :func:`backends.targets.fixed.spec_layers`.
    """
    tgt = get_target(target) if isinstance(target, str) else target
    w_scale, unity, uv_bits, act_shift, vth_bits = _precision(tgt)
    nrn = spec.neuron
    if nrn.reset != "zero":
        raise ValueError(f"spec {spec.name}: neuron.reset {nrn.reset!r}: Loihi 2's LIF resets "
                         f"to zero ({tgt.value('neuron.reset')})")
    vth = threshold_mantissa(nrn.threshold, w_scale)
    if not 1 <= vth < 1 << vth_bits:
        raise ValueError(f"spec {spec.name}: neuron.threshold {nrn.threshold}: vThMant {vth} "
                         f"outside [1, 2^{vth_bits})")
    du, dv = decays(nrn.decay, unity)
    model = Loihi2Neuron(du, dv, vth, unity, uv_bits, act_shift)
    pairs = spec_layers(spec, state, num_classes, in_channels)
    return [QuantLayer(la, quantize_weight(w, w_scale).to(torch.float64),
                       None if i == len(pairs) - 1 else model, 1.0 / w_scale)
            for i, (la, w) in enumerate(pairs)]
