"""norse backend: the architecture specs compiled with norse's ``LIFBoxCell`` / ``IAFCell``.

norse is imported lazily (inside functions), so a missing or broken norse disables only this
backend (:meth:`NorseBackend.available` says why).

Neuron mapping (checked against the source of norse 1.1.0, ``norse/torch/functional/lif_box.py``,
``iaf.py``, ``lif.py``, ``threshold.py``, ``reset.py``, ``superspike.py`` and
``norse/torch/module/lif_box.py``, ``iaf.py``, ``snn.py``). The canonical neuron of
:mod:`backends.specs` is ``v[t] = beta v[t-1]' + I[t]``, ``s[t] = H(v[t] - thr)`` with
``H(0) = 1``, ``v[t]' = reset(v[t])``.

* **LIF** (``beta < 1``): ``norse.torch.LIFBoxCell`` (the current-free LIF: no synaptic current,
  so no one-step delay of the input) with ``dt = 1``, ``tau_mem_inv = 1 - beta``,
  ``v_leak = 0``, ``v_th = thr``, ``v_reset = 0``. One step of ``lif_box_feed_forward_step`` is::

      v_dec = v + dt * tau_mem_inv * ((I' + v_leak) - v)     # = beta v + (1 - beta) I'
      z     = threshold(v_dec - v_th, method, alpha)          # forward: v_dec - v_th > 0
      v'    = reset_method(z, v_dec, v_reset, v_th)

  norse scales the input by ``dt * tau_mem_inv`` (``1 - beta``) and has no parameter for an input
  scale of 1, so the adapter pre-scales the input: ``I' = I / (1 - beta)`` (one multiplication
  of the layer's input current). Then ``v_dec = beta v + I`` in real arithmetic, but in float32
  only **to rounding**: norse rounds ``I' - v`` and then ``v + a (I' - v)``, the reference rounds
  ``beta v`` and ``beta v + I``. The two differ in the last bit of ~34% of membranes for
  ``beta = 0.5`` (even though ``x 2`` and ``x 0.5`` are exact; e.g. ``v = 1``,
  ``I = -(0.5 - 2^-25)``: reference ``2^-25``, norse ``0``), ~50% for ``beta = 0.2`` (where
  ``tau_mem_inv = float32(0.8)`` is itself rounded), at most ~1e-6 absolute for membranes of
  order 1. The error does not grow over time (the leak contracts it). A neuron whose membrane
  is within that of ``thr`` can fire in one and not in the other.
  norse's ``LIFCell`` (``lif_feed_forward_step``) reduces to the same update with
  ``tau_syn_inv = 1 / dt`` (its current decays to 0 in the step it arrives); ``LIFBoxCell`` says
  so directly. norse's defaults (``dt = 0.001``, ``tau_mem_inv = 100``: ``a = 0.1``, and for
  ``LIFCell`` ``tau_syn_inv = 200``) give a different neuron altogether: behind the same
  ``Linear(100, 100)`` on binary input (p = 0.2), 500 steps, ``LIFCell()`` fires at 0.0048 per
  neuron and step, snntorch's ``Leaky(beta=0.9)`` at 0.0315
  (``tests/test_norse.py::test_default_parameters_fire_far_less_than_snntorch``).
* **IF** (``beta = 1``): ``norse.torch.IAFCell`` (``iaf_feed_forward_step``: ``v_dec = v + I``,
  the same float operation as the reference's ``1.0 * v + I``: bit-identical) with
  ``v_th = thr``, ``v_reset = 0``. A LIF box cell cannot express IF (``tau_mem_inv = 0`` also
  removes the input).
* **threshold**: norse fires on ``v - v_th > 0`` (``norse.torch.functional.heaviside``:
  ``torch.gt``), the canonical neuron on ``>=``: they differ exactly when ``v == thr`` (norse
  does not fire and, with the zero reset, keeps ``v = thr``). With float weights and inputs such
  ties have probability ~0; on a grid of representable values (integer event counts and
  dyadic weights) they occur. :func:`check_neuron_semantics` checks this tie behaviour
  separately.
* **reset ``"zero"``**: norse's hard reset ``(1 - z) v + z v_reset`` with ``v_reset = 0``
  (``reset_value``): identical values. For LIF the adapter passes ``reset_method =``
  :func:`reset_value_detached` (norse's ``reset_value`` with ``z.detach()``): norse's
  feed-forward steps keep the spike in the graph (only the recurrent ``lif_step`` detaches),
  the canonical backward (snntorch's ``mem_reset``, spikingjelly's ``detach_reset=True`` that
  Spiking-FER uses, sinabs' adapter) detaches it. ``IAFCell`` has no ``reset_method`` (the
  reset is written into ``iaf_feed_forward_step``), so for IF the adapter keeps norse's values
  and replaces only the graph of the new state by the detached one
  (``v'.detach() + (1 - z.detach()) * (u - u.detach())``, ``u = v + I``; adds zero, so the
  forward values are norse's bit for bit; done only when autograd is on).
* **reset ``"subtract"``**: LIF: ``reset_method =`` :func:`reset_subtract_detached` (norse's
  ``reset_subtract``, ``(1 - z) v + z (v - v_th)``, with ``z.detach()``): ``v - thr`` after a
  spike, before the next step's decay, i.e. the canonical soft reset (``beta (v - thr) + I``).
  IF: **not expressible** (``IAFCell`` only resets to ``v_reset``; ``v_reset`` is a constant, it
  cannot be ``v - thr``): :meth:`NorseBackend.build` raises ValueError for an IF spec with
  ``reset="subtract"`` (none of the built-in specs has one).
* **surrogate gradient**: norse 1.1 has no arc-tangent surrogate and no custom threshold function
  (``threshold(x, method, alpha)`` dispatches on the strings ``heaviside``, ``super``,
  ``triangle``, ``tanh``, ``circ``, ``heavi_erfc`` and raises ValueError for anything else; only
  the reset is a callable parameter). :func:`norse_surrogate` picks, per spec surrogate, the
  norse method whose derivative has the same peak and area (list there): ATan(alpha = 2), the
  surrogate of ``tiny`` and ``sew_resnet18``, maps to ``"circ"`` with ``alpha = 0.5``:
  ``dS/dx = 0.125 / (0.25 + x^2)^1.5`` vs ATan's ``1 / (1 + (pi x)^2)``: both peak 1 at
  ``x = 0`` and area 1; they differ in shape (circ is wider near 0: 0.72 vs 0.62 at
  ``x = 0.25``, 0.35 vs 0.29 at 0.5, and its tail falls as ``1 / (8 |x|^3)`` instead of
  ``1 / (pi^2 x^2)``: 0.014 vs 0.025 at ``x = 2``); L1 distance 0.18, vs 0.32 for
  ``"tanh"`` (k = 2, also peak 1 / area 1), 0.42 for ``"triangle"`` (alpha = 1) and 1.01 for
  ``"super"``. So gradients differ from the other backends' (training curves are not
  identical); the forward pass does not depend on it.

Steps and state: :meth:`NorseNeuron.forward` is the loop a norse user writes (the cell on each
step, norse's state tuple carried, starting at 0). :meth:`NorseNeuron.step` (streaming, and
``SEENNet``'s readout, which reads the neuron's state as its membrane) carries the *pre-reset*
potential as its state, as the snntorch backend does: each step re-derives the previous spike
with norse's ``heaviside`` (strict ``>``), applies norse's reset, then norse's update (for LIF
``lif_box_feed_forward_step`` with a no-op ``reset_method``, which returns ``v_dec``; for IF
``u = v + I`` is the same addition ``iaf_feed_forward_step`` does). No state is kept on the
modules between calls. The cell's parameters are Python floats in norse's parameter tuple, so
they follow any device and add no ``nn.Parameter`` (the compiled models have the snntorch
backend's parameters, ``tiny``: 22,848 for 7 classes). ``copy.deepcopy`` and ``torch.save`` of a
whole model work because :class:`NorseNeuron` pickles without its cell and rebuilds it: norse
1.1's ``LIFBoxParameters`` itself cannot be pickled (its class is made by a metaclass under
the module name ``norse.torch.utils.pytree``, where pickle does not find it); state-dict
checkpoints never needed that.

:func:`check_neuron_semantics` runs both paths against
:func:`backends.blocks.neurons.canonical_neuron_reference` (once per neuron spec; :meth:`build`
and :meth:`available` call it): spikes exactly and membranes bit-exactly (IF) or to 8 float32
ulps (LIF) on inputs without ties, and the tie behaviour separately. Hence
``equality = Equality("bounded", eps=1e-4)``: LIF only to rounding, plus the strict ``>``
(IF alone would be ``"exact_except_ties"``). Measured: no differing spike in 10^7 LIF
neuron-steps of random currents (beta 0.2, 0.5, 0.9), 1 in 10^7 for IF (exact ties); every layer
of ``tiny`` and of ``sew_resnet18`` at 32x32, T = 3, identical to the snntorch backend on event
counts 0..3 (logits bit-identical; ``seen``'s differ by ~1e-8, the membrane readout).
"""

from __future__ import annotations

import functools
import logging
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from backends.base import BackendUnavailableError, register_backend
from backends.blocks.neurons import canonical_neuron_reference, check_neuron
from backends.equality import Equality
from backends.framework import TorchSpikingBackend
from backends.specs import NeuronSpec

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

WRITTEN_FOR = "1.1.0"
"""The norse version whose source the mapping was checked against."""

IF_SUBTRACT_REASON = (
    "norse cannot express an IF neuron with reset='subtract': norse.torch.IAFCell "
    "(iaf_feed_forward_step) only resets to the constant v_reset, and LIFBoxCell with "
    "tau_mem_inv = 0 (no leak) also removes the input (it scales it by dt * tau_mem_inv)"
)
"""Why :meth:`NorseBackend.build` rejects an IF spec with the subtractive reset."""


def _import_norse() -> SimpleNamespace:
    """Import norse and the pieces the adapter uses.

    Returns:
        A namespace with ``version`` and norse's ``LIFBoxCell``, ``IAFCell``,
        ``LIFBoxParameters``, ``LIFBoxFeedForwardState``, ``IAFParameters``,
        ``IAFFeedForwardState``, ``lif_box_feed_forward_step``, ``heaviside``, ``threshold``,
        ``reset_value``, ``reset_subtract``.

    Raises:
        BackendUnavailableError: it cannot be imported (message has the cause).
    """
    try:
        import norse
        from norse.torch.functional.heaviside import heaviside
        from norse.torch.functional.iaf import IAFFeedForwardState, IAFParameters
        from norse.torch.functional.lif_box import (
            LIFBoxFeedForwardState,
            LIFBoxParameters,
            lif_box_feed_forward_step,
        )
        from norse.torch.functional.reset import reset_subtract, reset_value
        from norse.torch.functional.threshold import threshold
        from norse.torch.module.iaf import IAFCell
        from norse.torch.module.lif_box import LIFBoxCell
    except Exception as exc:  # ImportError, or any error raised while importing it
        raise BackendUnavailableError(
            f"norse is not importable: {type(exc).__name__}: {exc}"
        ) from exc
    return SimpleNamespace(
        version=str(getattr(norse, "__version__", "unknown")),
        LIFBoxCell=LIFBoxCell,
        IAFCell=IAFCell,
        LIFBoxParameters=LIFBoxParameters,
        LIFBoxFeedForwardState=LIFBoxFeedForwardState,
        IAFParameters=IAFParameters,
        IAFFeedForwardState=IAFFeedForwardState,
        lif_box_feed_forward_step=lif_box_feed_forward_step,
        heaviside=heaviside,
        threshold=threshold,
        reset_value=reset_value,
        reset_subtract=reset_subtract,
    )


@functools.cache
def _api() -> SimpleNamespace:
    """:func:`_import_norse`, cached, for the per-step code of models already built (an import
    per step and layer would cost more than the step of a small layer)."""
    return _import_norse()


# ---------------------------------------------------------------------------------------------
# norse callables: surrogate choice and detached resets
# ---------------------------------------------------------------------------------------------


def norse_surrogate(neuron: NeuronSpec) -> tuple[str, float]:
    """norse's threshold ``(method, alpha)`` closest to the spec's surrogate gradient.

    Each choice has the same peak and area of ``dS/dx`` as the spec's surrogate, except ATan with
    ``alpha != 2`` (norse's candidates all peak at 1, ATan peaks at ``alpha / 2``):

    * ``atan``, alpha -> ``("circ", 1 / alpha)``: ``1 / (1 + (alpha x)^2)^1.5``, peak 1, area
      ``2 / alpha`` (ATan: ``alpha / 2``, 1; equal for alpha = 2);
    * ``fast_sigmoid``, 1 -> ``("super", 1)``: ``1 / (1 + |x|)^2``, the same function;
    * ``fast_sigmoid``, a -> ``("circ", 1 / a)``: peak 1, area ``2 / a``, as the spec's
      ``1 / (1 + a |x|)^2`` (tails ``1 / |x|^3`` instead of ``1 / x^2``);
    * ``rect``, a -> ``("tanh", 1 / a)``: ``1 - tanh(x / a)^2``, peak 1, area ``2 a``, as the
      rectangle of height 1 and half-width ``a`` (smooth, and non-zero beyond ``|x| = a``).

    ``circ``'s derivative, from norse's ``HeaviCirc.backward``, simplifies to
    ``alpha^3 / (alpha^2 + x^2)^1.5``; ``tanh``'s (``HeaviTanh.backward``) is
    ``1 - tanh(k x)^2`` (no factor ``k``), area ``2 / k``; norse 1.1's ``SuperSpike.backward``
    ignores ``alpha``. For ATan(alpha), ``circ(1 / alpha)`` is ``2 / alpha`` times the ATan(2)
    match rescaled in ``x`` as ATan's width is.

    Raises:
        ValueError: unknown surrogate (see :func:`backends.blocks.neurons.check_neuron`).
    """
    check_neuron(neuron)
    a = float(neuron.surrogate_alpha)
    if neuron.surrogate == "atan":
        return "circ", 1.0 / a
    if neuron.surrogate == "fast_sigmoid":
        return ("super", 1.0) if a == 1.0 else ("circ", 1.0 / a)
    return "tanh", 1.0 / a  # rect


def reset_value_detached(
    z: torch.Tensor, v: torch.Tensor, reset: Any, th: Any
) -> torch.Tensor:
    """norse's ``reset_value`` (``(1 - z) v + z reset``) with the spike detached from the graph
    (the canonical backward; norse's feed-forward steps keep it). Same shapes as ``v``."""
    return _api().reset_value(z.detach(), v, reset, th)


def reset_subtract_detached(
    z: torch.Tensor, v: torch.Tensor, reset: Any, th: Any
) -> torch.Tensor:
    """norse's ``reset_subtract`` (``(1 - z) v + z (v - th)``) with the spike detached from the
    graph. Same shapes as ``v``."""
    return _api().reset_subtract(z.detach(), v, reset, th)


def no_reset(z: torch.Tensor, v: torch.Tensor, reset: Any, th: Any) -> torch.Tensor:
    """A ``reset_method`` that keeps ``v`` (so ``lif_box_feed_forward_step`` returns the
    pre-reset potential; used by :meth:`NorseNeuron.step`)."""
    return v


# ---------------------------------------------------------------------------------------------
# the neuron
# ---------------------------------------------------------------------------------------------


def make_cell(neuron: NeuronSpec) -> tuple[nn.Module, float]:
    """The norse cell for ``neuron`` and the factor the adapter multiplies its input by.

    Returns:
        ``(LIFBoxCell, 1 / (1 - beta))`` for LIF (``beta < 1``), ``(IAFCell, 1.0)`` for IF; see
        the module docstring for the parameters.

    Raises:
        BackendUnavailableError: norse is missing.
        ValueError: IF with ``reset="subtract"`` (:data:`IF_SUBTRACT_REASON`); an invalid
            ``neuron`` (see :func:`backends.blocks.neurons.check_neuron`).
        TypeError: ``neuron`` is not a NeuronSpec.
    """
    check_neuron(neuron)
    nt = _import_norse()
    method, alpha = norse_surrogate(neuron)
    thr = float(neuron.threshold)
    beta = float(neuron.decay)
    if beta == 1.0:
        if neuron.reset == "subtract":
            raise ValueError(IF_SUBTRACT_REASON)
        p = nt.IAFParameters(v_th=thr, v_reset=0.0, method=method, alpha=alpha)
        return nt.IAFCell(p, dt=1.0), 1.0
    reset = reset_value_detached if neuron.reset == "zero" else reset_subtract_detached
    p = nt.LIFBoxParameters(
        tau_mem_inv=1.0 - beta,
        v_leak=0.0,
        v_th=thr,
        v_reset=0.0,
        method=method,
        alpha=alpha,
        reset_method=reset,
    )
    return nt.LIFBoxCell(p, dt=1.0), 1.0 / (1.0 - beta)


class NorseNeuron(nn.Module):
    """A layer of norse neurons stepped through time (a
    :class:`backends.blocks.activations.TimeActivation`); the norse cell is the child ``cell``
    (``LIFBoxCell`` or ``IAFCell``), ``input_scale`` the factor applied to the input current
    before the cell (``1 / (1 - beta)`` for LIF, 1 for IF).

    Raises:
        BackendUnavailableError, ValueError, TypeError: see :func:`make_cell`.
    """

    spiking = True

    def __init__(self, neuron: NeuronSpec) -> None:
        super().__init__()
        self.neuron = neuron
        self.cell, self.input_scale = make_cell(neuron)
        self.is_iaf = neuron.decay == 1.0

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the cell: norse 1.1's ``LIFBoxParameters`` cannot be pickled (its
        metaclass ``pytree.MultipleInheritanceNamedTupleMeta`` creates the class with
        ``__module__ = "norse.torch.utils.pytree"``, where pickle does not find it). The cell
        holds no tensors (its parameters are Python floats), so :meth:`__setstate__` rebuilds it
        from ``neuron``."""
        state = self.__dict__.copy()
        state["_modules"] = {k: v for k, v in self._modules.items() if k != "cell"}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._modules["cell"], self.input_scale = make_cell(self.neuron)

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.input_scale == 1.0 else x * self.input_scale

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Spikes for the input currents ``x`` ``(steps*B, ...)`` (time-major), membrane from 0.

        Returns:
            ``(steps*B, ...)`` spikes in {0, 1} (float, with norse's surrogate gradient).
        """
        nt = _api()
        cur = self._scaled(x).reshape(steps, -1, *x.shape[1:])
        state_cls = nt.IAFFeedForwardState if self.is_iaf else nt.LIFBoxFeedForwardState
        state = state_cls(v=torch.zeros_like(cur[0]))
        detach_graph = self.is_iaf and torch.is_grad_enabled()
        out = []
        for t in range(steps):
            z, new = self.cell(cur[t], state)
            if detach_graph:  # IAFCell keeps z in the reset's graph: detach it (module docstring)
                u = state.v + cur[t]
                new = state_cls(v=new.v.detach() + (1 - z.detach()) * (u - u.detach()))
            state = new
            out.append(z)
        return torch.stack(out).flatten(0, 1)

    def step(
        self, x: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``x`` ``(B, ...)`` input current, ``state`` the pre-reset membrane
        ``v[t-1]`` (None at ``t = 0``); returns ``(s[t], v[t])`` (``v[t]`` before its reset)."""
        nt = _api()
        p = self.cell.p
        cur = self._scaled(x)
        if state is None:
            v = torch.zeros_like(cur)
        else:
            r = nt.heaviside(state - p.v_th).detach()  # norse's rule: the spike of step t-1
            reset = nt.reset_value if self.is_iaf else p.reset_method
            v = reset(r, state, p.v_reset, p.v_th)
        if self.is_iaf:
            z, _ = self.cell(cur, nt.IAFFeedForwardState(v=v))
            return z, v + cur  # iaf_feed_forward_step's own v_new before its reset
        z, new = nt.lif_box_feed_forward_step(
            cur, nt.LIFBoxFeedForwardState(v=v), p._replace(reset_method=no_reset), self.cell.dt
        )
        return z, new.v


# ---------------------------------------------------------------------------------------------
# self-check
# ---------------------------------------------------------------------------------------------


def _check_sequences(thr: float) -> torch.Tensor:
    """Input currents ``(T = 10, N)`` for the self-check: hand-picked rows (above twice the
    threshold, below it, negative) and 64 seeded uniform rows in ``[-0.5, 2.5] thr``."""
    rows = torch.tensor(
        [
            [1.25 * thr, 0.0, 1.25 * thr, 1.25 * thr, 0.0, 0.0, 1.25 * thr, 0.0, 0.0, 0.0],
            [2.5 * thr, 0.0, 0.0, 0.3 * thr, 0.0, 2 * thr, 0.0, 0.0, 3.1 * thr, 0.0],
            [0.4 * thr, 0.4 * thr, 0.4 * thr, 0.4 * thr, -0.5, 0.9 * thr, 0.7 * thr, 0.7 * thr,
             0.0, 0.0],
            [3.2 * thr, -0.2, 1.7 * thr, 0.1, 0.0, 0.0, 0.0, 0.0, 1.1 * thr, 0.0],
        ],
        dtype=torch.float32,
    )
    g = torch.Generator().manual_seed(0)
    rand = (torch.rand(64, 10, generator=g) * 3.0 - 0.5) * thr
    return torch.cat([rows, rand]).T.contiguous()


@functools.cache
def check_neuron_semantics(neuron: NeuronSpec) -> None:
    """Check the compiled norse neuron against the canonical neuron.

    On the inputs of :func:`_check_sequences` it runs :meth:`NorseNeuron.forward` and
    :meth:`NorseNeuron.step` and compares with
    :func:`backends.blocks.neurons.canonical_neuron_reference`, leaving out the sequences whose
    reference membrane comes within ``1e-5 * thr`` of the threshold (ties and near-ties, where
    norse's ``>`` and its rounding may legitimately differ): spikes must be equal; the
    pre-reset membrane of ``step`` equal bit for bit for IF and within 8 float32 ulps of
    ``max(1, |v|)`` for LIF. At least 40 of the 68 sequences must remain. Then the tie: a cell
    whose ``v_dec`` is exactly ``thr`` must not fire (strict ``>``), one at ``2 thr`` must.

    Raises:
        BackendUnavailableError: norse is missing, rejects the adapter's arguments, or does not
            reproduce the dynamics described in the module docstring (a changed update).
        ValueError: IF with ``reset="subtract"`` (not expressible).
    """
    nt = _import_norse()
    thr = float(neuron.threshold)
    seqs = _check_sequences(thr)
    steps, n = seqs.shape
    want_s, want_v = canonical_neuron_reference(seqs, neuron)
    keep = ((want_v - thr).abs() > 1e-5 * thr).all(dim=0)
    try:
        act = NorseNeuron(neuron)
    except TypeError as exc:
        raise BackendUnavailableError(
            f"norse {nt.version}: LIFBoxCell/IAFCell reject the adapter's arguments ({exc}); "
            f"the adapter was written for norse {WRITTEN_FOR}"
        ) from exc
    with torch.no_grad():
        got_s = act(seqs.reshape(steps * n, 1), steps).reshape(steps, n)
        step_s, step_v, state = [], [], None
        for t in range(steps):
            s, state = act.step(seqs[t], state)
            step_s.append(s)
            step_v.append(state)
        step_s_t, step_v_t = torch.stack(step_s), torch.stack(step_v)
        # the tie, on the cell itself: v = thr, input (already scaled) thr -> v_dec = thr exactly
        # (LIF: thr + a * (thr - thr); IF from rest: 0 + thr)
        v0 = torch.tensor([0.0, 0.0]) if act.is_iaf else torch.tensor([thr, thr])
        inp = torch.tensor([thr, 2 * thr])
        state_cls = nt.IAFFeedForwardState if act.is_iaf else nt.LIFBoxFeedForwardState
        tie_z, _ = act.cell(inp, state_cls(v=v0))
    ulp = torch.finfo(torch.float32).eps
    tol = 8 * ulp * want_v[:, keep].abs().clamp_min(1.0)
    close_v = (
        torch.equal(step_v_t[:, keep], want_v[:, keep])
        if act.is_iaf
        else bool(((step_v_t[:, keep] - want_v[:, keep]).abs() <= tol).all())
    )
    ok = (
        int(keep.sum()) >= 40
        and torch.equal(got_s[:, keep], want_s[:, keep])
        and torch.equal(step_s_t, got_s)
        and close_v
        and tie_z.tolist() == [0.0, 1.0]
    )
    if not ok:
        raise BackendUnavailableError(
            f"norse {nt.version}: {type(act.cell).__name__}(reset={neuron.reset!r}, "
            f"beta={neuron.decay}, threshold={neuron.threshold}) does not reproduce the mapped "
            f"canonical neuron of backends.specs; the adapter was written for norse "
            f"{WRITTEN_FOR}'s lif_box_feed_forward_step / iaf_feed_forward_step"
        )


# ---------------------------------------------------------------------------------------------
# the backend
# ---------------------------------------------------------------------------------------------


class NorseBackend(TorchSpikingBackend):
    """The ``norse`` backend (see the module docstring for the neuron mapping).

    ``build`` compiles a ConvNetSpec into :class:`backends.blocks.convnet.PerStepConvNet`, a
    ResNetSpec into a SEW-ResNet (:class:`backends.blocks.resnet.ResNet` with ``sew=True``) and a
    SEENSpec into :class:`backends.blocks.seen.SEENNet`, with :class:`NorseNeuron` as the
    neurons.
    """

    name = "norse"
    framework = "norse"
    equality = Equality(
        "bounded",
        eps=1e-4,
        reason=(
            "LIF: norse's LIFBoxCell integrates v + dt*tau_mem_inv*(I' - v); with "
            "dt*tau_mem_inv = 1 - beta and the input pre-scaled, I' = I / (1 - beta), that is "
            "beta*v + I only to float32 rounding (the last bit of ~34% of membranes for beta "
            "0.5), so a neuron within ~1e-6 of threshold can flip, and a flip propagates; and "
            "norse fires on v > thr, so ties v == thr differ. IF (IAFCell: v + I) is exact "
            "except ties. Measured: no differing spike in 1e7 LIF neuron-steps (random currents, "
            "beta 0.2/0.5/0.9), 1e-7 for IF (ties); all layers 1.0 identical spikes on tiny and "
            "sew_resnet18 (32x32, T=3) with event counts 0..3"
        ),
    )
    unsupported: dict[str, str] = {}
    """Built-in specs this backend cannot compile (none: only IF with ``reset="subtract"`` is
    not expressible, see :data:`IF_SUBTRACT_REASON`)."""

    def import_framework(self) -> Any:
        """Import norse (see :func:`_import_norse`)."""
        return _import_norse()

    def framework_version(self) -> str:
        """norse's version (its module's ``version``)."""
        return str(_import_norse().version)

    def check_neuron_semantics(self, neuron: NeuronSpec) -> None:
        """See the module-level :func:`check_neuron_semantics`.

        Raises:
            ValueError: an IF neuron with ``reset="subtract"`` (:data:`IF_SUBTRACT_REASON`).
        """
        if neuron.decay == 1.0 and neuron.reset == "subtract":
            raise ValueError(IF_SUBTRACT_REASON)
        check_neuron_semantics(neuron)

    def make_neuron(self, neuron: NeuronSpec) -> nn.Module:
        """A :class:`NorseNeuron` layer."""
        return NorseNeuron(neuron)


BACKEND = register_backend(NorseBackend())
