"""sinabs backend: the architecture specs compiled with sinabs' ``IAF`` / ``LIF`` neurons.

sinabs is imported lazily (inside functions), so a missing or broken sinabs disables only this
backend (:meth:`SinabsBackend.available` says why). The neurons run sinabs' torch
implementation (``sinabs.layers.functional.lif_forward``); ``sinabs-exodus`` (SynSense's CUDA
kernels for the same layers, a source package that needs ``nvcc``) is not used.

Neuron mapping (checked against the source of sinabs 3.1.3, ``sinabs/layers/lif.py``,
``iaf.py``, ``functional/lif.py``, ``activation/*.py``). One step of ``LIF`` (``tau_syn=None``)
with input ``I[t]`` does, in ``lif_forward_single``::

    v   = alpha * v[t-1]' + (1 - alpha) * I[t]     # norm_input=True (sinabs' default)
    v   = alpha * v[t-1]' + I[t]                   # norm_input=False
    s   = spike_fn.apply(v, thr, surrogate_grad_fn)
    v[t]' = reset_fn(s, v, thr)                    # the state kept is the post-reset potential

with ``alpha = exp(-1 / tau_mem)``; ``IAF`` is the same layer with ``tau_mem = inf`` and
``alpha = 1`` (its ``alpha_mem_calculated`` returns ``torch.tensor(1.0)``). Mapped onto the
canonical neuron of :mod:`backends.specs` (``v[t] = beta v[t-1]' + I[t]``,
``s[t] = H(v[t] - thr)``, ``v[t]' = reset(v[t])``), sinabs' defaults differ in four places, all
set explicitly here:

* ``norm_input=False``: the default scales the input by ``1 - alpha`` (``0.5`` for beta 0.5);
* ``spike_fn=SingleSpike``: ``(v - thr >= 0)``, one spike at most, firing at ``v == thr``
  (``H(0) = 1``, as the canonical neuron). The default ``MultiSpike`` emits
  ``trunc(v / thr)`` spikes (2 for ``v = 2.5 thr``) and subtracts ``thr`` per spike;
* ``reset_fn``: sinabs' ``MembraneReset()`` (``v * (s == 0) + 0``) for ``reset="zero"``;
  :class:`DetachedMembraneSubtract` (``v - s.detach() * thr``) for ``reset="subtract"``. The
  default is ``MembraneSubtract()`` (subtractive). sinabs subtracts ``thr`` *before* the next
  step's decay (``alpha * (v - thr) + I``), i.e. ``beta * thr`` after it: the canonical soft
  reset, so no change of the update is needed (unlike snntorch, which subtracts ``thr`` after
  the decay). ``MembraneSubtract`` keeps the spike in the graph; the adapter detaches it, as
  ``MembraneReset`` does implicitly (``s == 0`` has no gradient), snntorch's ``mem_reset`` and
  spikingjelly's ``detach_reset=True`` (Spiking-FER) do;
* ``surrogate_grad_fn``: :class:`SurrogateGrad`, the backward of
  :class:`backends.blocks.neurons.SurrogateSpike` written as sinabs' ``(v_mem, thr) -> dS/dv``
  callable (sinabs has no arc-tangent surrogate; its default is ``SingleExponential``);
  ``SingleSpike.backward`` multiplies the upstream gradient by it;
* ``min_v_mem=None`` (no lower bound; the default), ``tau_syn=None`` (no synaptic current).

Two things need a subclass (:class:`CanonicalLIF` of ``sinabs.layers.LIF`` and
:class:`CanonicalIAF` of ``sinabs.layers.IAF``; the dynamics stay sinabs' own code):

* decay: sinabs takes ``tau_mem`` and computes ``alpha = exp(-1 / tau_mem)`` in float32 on every
  call. With ``tau_mem = -1 / ln(beta)`` that is ``beta`` only to rounding: exact for beta 0.5 and
  0.9, one ulp low for ``seen``'s beta 0.2 (``0.19999999`` instead of ``float32(0.2)``), which
  flips spikes at ties. ``train_alphas=True`` takes the same ``exp`` and makes ``alpha`` a trainable
  parameter. :class:`CanonicalLIF` overrides ``alpha_mem_calculated`` to return ``beta`` itself
  (a Python float: the same ``beta * v`` as the reference);
* parameters: sinabs registers ``tau_mem`` as a *trainable* ``nn.Parameter`` (an optimiser would
  learn the time constants) and ``spike_threshold`` as a frozen one, so every neuron layer would
  add 1-2 parameters (and count in ``model.parameters()``, NeuroBench's ``ParameterCount``, and
  break :func:`backends.equality.copy_weights` from another backend). They cannot become buffers
  (``StatefulLayer`` treats every buffer as neuron state and re-creates them all with the state
  shape), so the subclasses keep them as Python floats. The compiled models have the same
  parameters as the snntorch backend's (``tiny``: 22,848 for 7 classes).

Layout: :class:`SinabsNeuron.forward` gets the time-major ``(T*B, ...)`` tensor of
:mod:`backends.blocks`. ``LIFSqueeze`` / ``IAFSqueeze`` expect the batch-major fold
``(B*T, ...)`` (``SqueezeMixin``: ``reshape(batch_size, num_timesteps, ...)``) and would mix
samples and steps, so the adapter uses ``LIF`` / ``IAF`` on ``(B, T, ...)``
(``x.reshape(T, B, ...).transpose(0, 1)``) and folds the output back.

State: the membrane starts at 0 in each forward pass (the layer's ``v_mem`` buffer is set to
zeros of the input's shape) and is emptied after the pass, together with the ``firing_rate`` and
``recordings`` attributes sinabs leaves on the layer, so no graph is kept between calls and
``copy.deepcopy`` / ``torch.save`` work. :meth:`SinabsNeuron.step` (streaming) carries the
*pre-reset* potential as its state, as the snntorch backend does (``SEENNet`` reads the readout
neuron's state as its membrane): each step applies sinabs' ``reset_fn`` to the previous state,
then sinabs' update and ``spike_fn``.

:func:`check_neuron_semantics` runs the compiled neuron (both paths) against
:func:`backends.blocks.neurons.canonical_neuron_reference` (once per neuron spec; :meth:`build` and
:meth:`available` call it), so a future sinabs that changes its update disables this backend
with a clear message instead of silently changing the dynamics. With the mapping above the
neuron is bit-identical to the reference, hence ``equality = Equality("exact")``.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from backends.base import BackendUnavailableError, register_backend
from backends.blocks.neurons import SurrogateSpike, canonical_neuron_reference, check_neuron
from backends.equality import Equality
from backends.framework import TorchSpikingBackend, import_or_unavailable
from backends.specs import NeuronSpec

log = logging.getLogger(__name__)


def _import_sinabs() -> Any:
    """Import sinabs (and its ``layers`` and ``activation`` subpackages).

    Raises:
        BackendUnavailableError: it cannot be imported (message has the cause).
    """
    return import_or_unavailable("sinabs", "activation", "layers")


# ---------------------------------------------------------------------------------------------
# sinabs callables: surrogate gradient and detached subtractive reset
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurrogateGrad:
    """sinabs ``surrogate_grad_fn`` with the backward of
    :class:`backends.blocks.neurons.SurrogateSpike`.

    ``__call__(v_mem, spike_threshold) -> dS/dv``, elementwise, same shape and dtype as
    ``v_mem``, with ``x = v_mem - spike_threshold``:

    * ``"atan"``: ``alpha / 2 / (1 + (pi / 2 * alpha * x)^2)`` (Fang et al., ICCV 2021;
      spikingjelly ``surrogate.ATan``; :class:`backends.blocks.neurons.ATanSpike`);
    * ``"fast_sigmoid"``: ``1 / (1 + alpha |x|)^2`` (Zenke & Ganguli, Neural Computation 2018,
      eq. 7; :class:`backends.blocks.neurons.FastSigmoidSpike`);
    * ``"rect"``: ``1 if |x| < alpha else 0`` (Wu et al., Front. Neurosci. 2018; SEEN's
      ``ActFun``; :class:`backends.blocks.neurons.RectSpike`).

    sinabs' ``SingleSpike.backward`` returns ``grad_output * surrogate_grad_fn(v_mem, thr)``.

    Raises:
        ValueError: unknown ``kind`` or ``alpha`` not a positive finite number (as
            :class:`~backends.blocks.neurons.SurrogateSpike`).
    """

    kind: str = "atan"
    alpha: float = 2.0

    def __post_init__(self) -> None:
        SurrogateSpike(self.kind, self.alpha)  # validates kind and alpha

    def __call__(self, v_mem: torch.Tensor, spike_threshold: Any) -> torch.Tensor:
        x = v_mem - spike_threshold
        a = float(self.alpha)
        if self.kind == "atan":
            return a / 2.0 / (1.0 + (math.pi / 2.0 * a * x) ** 2)
        if self.kind == "fast_sigmoid":
            return 1.0 / (1.0 + a * x.abs()) ** 2
        return (x.abs() < a).to(v_mem.dtype)


@dataclass(frozen=True)
class DetachedMembraneSubtract:
    """sinabs ``reset_fn`` for the soft reset: ``v_mem <- v_mem - thr * spikes.detach()``.

    The forward is sinabs' ``MembraneSubtract()`` (``v_mem - spikes * threshold``); the spike is
    detached so that no gradient flows through the reset (snntorch's ``mem_reset``, spikingjelly's
    ``detach_reset=True``, and sinabs' own ``MembraneReset``, whose ``spikes == 0`` has no
    gradient).

    ``__call__(spikes, state, threshold) -> new_state``: ``state`` a dict with ``"v_mem"``
    (any shape, like ``spikes``); returns a copy with the reset ``"v_mem"``.
    """

    def __call__(self, spikes: torch.Tensor, state: dict, threshold: Any) -> dict:
        new_state = state.copy()
        new_state["v_mem"] = new_state["v_mem"] - spikes.detach() * threshold
        return new_state


def tau_mem_for(beta: float) -> float:
    """sinabs' ``tau_mem`` (in time steps) for a decay ``beta`` per step:
    ``beta = exp(-1 / tau_mem)`` (sinabs ``LIF``), i.e. ``tau_mem = -1 / ln(beta)``; ``inf`` for
    ``beta = 1``.

    >>> round(tau_mem_for(0.5), 6)
    1.442695
    >>> tau_mem_for(1.0)
    inf

    Raises:
        ValueError: ``beta`` not in (0, 1].
    """
    if not 0.0 < beta <= 1.0:
        raise ValueError(f"beta: expected a number in (0, 1], got {beta!r}")
    return math.inf if beta == 1.0 else -1.0 / math.log(beta)


# ---------------------------------------------------------------------------------------------
# the sinabs layer subclasses (made on first use, so that this module imports without sinabs)
# ---------------------------------------------------------------------------------------------


def _params_to_floats(layer: nn.Module) -> None:
    """Replace the ``nn.Parameter`` attributes sinabs registers (``tau_mem``,
    ``spike_threshold``, ``min_v_mem``; ``None`` entries included) by plain Python floats."""
    for name in list(layer._parameters):
        value = layer._parameters.pop(name)
        setattr(layer, name, None if value is None else float(value.detach()))


@functools.cache
def _canonical_classes() -> tuple[type, type]:
    """Create ``(CanonicalIAF, CanonicalLIF)`` (subclasses of sinabs' ``IAF`` / ``LIF``)."""
    sinabs = _import_sinabs()
    from sinabs.activation import SingleSpike

    sl = sinabs.layers

    class CanonicalIAF(sl.IAF):
        """``sinabs.layers.IAF`` with ``SingleSpike`` and no ``nn.Parameter``
        (``spike_threshold`` a Python float; see the module docstring). Input
        ``(B, T, ...)``, output spikes of the same shape; the update is sinabs' code."""

        def __init__(self, spike_threshold: float, reset_fn: Any, surrogate_grad_fn: Any) -> None:
            super().__init__(
                spike_threshold=torch.tensor(float(spike_threshold)),
                spike_fn=SingleSpike,
                reset_fn=reset_fn,
                surrogate_grad_fn=surrogate_grad_fn,
                tau_syn=None,
                min_v_mem=None,
            )
            _params_to_floats(self)

        @property
        def _param_dict(self) -> dict:  # sinabs' __deepcopy__ calls __class__(**_param_dict)
            return {
                "spike_threshold": self.spike_threshold,
                "reset_fn": self.reset_fn,
                "surrogate_grad_fn": self.surrogate_grad_fn,
            }

        def __deepcopy__(self, memo: Any = None) -> Any:
            return super().__deepcopy__(memo).train(self.training)

    class CanonicalLIF(sl.LIF):
        """``sinabs.layers.LIF`` with ``SingleSpike``, ``norm_input=False``, the decay given as
        ``beta`` (``alpha_mem_calculated`` returns it exactly, instead of
        ``exp(-1 / tau_mem)`` in float32) and no ``nn.Parameter`` (see the module docstring).
        Input ``(B, T, ...)``, output spikes of the same shape; the update is sinabs' code."""

        def __init__(
            self, beta: float, spike_threshold: float, reset_fn: Any, surrogate_grad_fn: Any
        ) -> None:
            super().__init__(
                tau_mem=tau_mem_for(float(beta)),
                tau_syn=None,
                spike_threshold=torch.tensor(float(spike_threshold)),
                spike_fn=SingleSpike,
                reset_fn=reset_fn,
                surrogate_grad_fn=surrogate_grad_fn,
                min_v_mem=None,
                train_alphas=False,
                norm_input=False,
            )
            _params_to_floats(self)
            self.beta = float(beta)

        @property
        def alpha_mem_calculated(self) -> float:
            """The decay per step, ``beta`` (exactly; ``tau_mem`` is kept for information)."""
            return self.beta

        @property
        def _param_dict(self) -> dict:  # sinabs' __deepcopy__ calls __class__(**_param_dict)
            return {
                "beta": self.beta,
                "spike_threshold": self.spike_threshold,
                "reset_fn": self.reset_fn,
                "surrogate_grad_fn": self.surrogate_grad_fn,
            }

        def __deepcopy__(self, memo: Any = None) -> Any:
            return super().__deepcopy__(memo).train(self.training)

        def __repr__(self) -> str:
            return (
                f"CanonicalLIF(beta={self.beta}, tau_mem={self.tau_mem:.6g}, "
                f"spike_threshold={self.spike_threshold}, norm_input=False)"
            )

    for cls in (CanonicalIAF, CanonicalLIF):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return CanonicalIAF, CanonicalLIF


def __getattr__(name: str) -> Any:
    """Module attributes ``CanonicalIAF`` and ``CanonicalLIF`` (created lazily; lets pickle find
    the classes)."""
    if name == "CanonicalIAF":
        return _canonical_classes()[0]
    if name == "CanonicalLIF":
        return _canonical_classes()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_sinabs_layer(neuron: NeuronSpec) -> nn.Module:
    """The sinabs layer for ``neuron``: :class:`CanonicalIAF` for ``model="if"``,
    :class:`CanonicalLIF` (``beta = neuron.beta``) for ``"lif"``; threshold
    ``neuron.threshold``; reset ``MembraneReset()`` (``"zero"``) or
    :class:`DetachedMembraneSubtract` (``"subtract"``); surrogate :class:`SurrogateGrad`.

    Raises:
        BackendUnavailableError: sinabs is missing.
        ValueError, TypeError: invalid ``neuron`` (see :func:`backends.blocks.neurons.check_neuron`).
    """
    check_neuron(neuron)
    iaf_cls, lif_cls = _canonical_classes()
    from sinabs.activation import MembraneReset

    reset = MembraneReset() if neuron.reset == "zero" else DetachedMembraneSubtract()
    surrogate = SurrogateGrad(neuron.surrogate, float(neuron.surrogate_alpha))
    if neuron.model == "if":
        return iaf_cls(float(neuron.threshold), reset, surrogate)
    return lif_cls(float(neuron.beta), float(neuron.threshold), reset, surrogate)


class SinabsNeuron(nn.Module):
    """A layer of sinabs neurons stepped through time (a
    :class:`backends.blocks.activations.TimeActivation`); the sinabs layer is the child ``layer``."""

    spiking = True

    def __init__(self, neuron: NeuronSpec) -> None:
        super().__init__()
        self.neuron = neuron
        self.layer = make_sinabs_layer(neuron)

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Spikes for the input currents ``x`` ``(steps*B, ...)`` (time-major), membrane from 0,
        through sinabs' ``LIF.forward`` on ``(B, steps, ...)``.

        Returns:
            ``(steps*B, ...)`` spikes in {0, 1} (float, with the surrogate gradient).
        """
        cur = x.reshape(steps, -1, *x.shape[1:]).transpose(0, 1)  # (B, steps, ...)
        self.layer.v_mem = torch.zeros_like(cur[:, 0], memory_format=torch.contiguous_format)
        try:
            spikes = self.layer(cur)  # (B, steps, ...)
        finally:
            self._clear()
        return spikes.transpose(0, 1).reshape(x.shape)

    def step(
        self, x: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``x`` ``(B, ...)`` input current, ``state`` the pre-reset membrane
        ``v[t-1]`` (None at ``t = 0``); returns ``(s[t], v[t])``.

        Applies sinabs' ``reset_fn`` to ``state`` (with the spike ``H(v[t-1] - thr)``, detached),
        then ``v[t] = alpha_mem_calculated * v[t-1]' + x`` (``lif_forward_single`` with
        ``norm_input=False``) and sinabs' ``spike_fn``.
        """
        layer = self.layer
        thr = layer.spike_threshold
        if state is None:
            v = torch.zeros_like(x)
        else:
            fired = layer.spike_fn.apply(state, thr, layer.surrogate_grad_fn).detach()
            v = layer.reset_fn(fired, {"v_mem": state}, thr)["v_mem"]
        v = layer.alpha_mem_calculated * v + x
        return layer.spike_fn.apply(v, thr, layer.surrogate_grad_fn), v

    def _clear(self) -> None:
        """Drop the state sinabs keeps on the layer (``v_mem``, ``firing_rate``, ``recordings``)."""
        self.layer.v_mem = torch.zeros(0, device=self.layer.v_mem.device)
        self.layer.__dict__.pop("firing_rate", None)
        self.layer.__dict__.pop("recordings", None)


def _post_reset(v_pre: torch.Tensor, spikes: torch.Tensor, neuron: NeuronSpec) -> torch.Tensor:
    """The canonical reset of :mod:`backends.specs` applied to the reference's pre-reset
    potential: ``v (1 - s)`` (zero) or ``v - thr s`` (subtract)."""
    if neuron.reset == "zero":
        return v_pre * (1 - spikes)
    return v_pre - neuron.threshold * spikes


@functools.cache
def check_neuron_semantics(neuron: NeuronSpec) -> None:
    """Check that the compiled sinabs neuron runs the canonical dynamics exactly.

    Drives one neuron per input sequence over 8 steps with currents that hit the threshold
    exactly, exceed twice the threshold, stay below it and go negative, and compares with
    :func:`backends.blocks.neurons.canonical_neuron_reference` (``torch.equal``: bit-identical):
    the spikes of :meth:`SinabsNeuron.forward` (sinabs' ``LIF.forward``), the post-reset membrane
    sinabs keeps, and the spikes and pre-reset membrane of :meth:`SinabsNeuron.step`.

    Raises:
        BackendUnavailableError: sinabs is missing, or its neuron does not reproduce the
            canonical dynamics (the installed version changed its update).
    """
    thr = float(neuron.threshold)
    seqs = torch.tensor(
        [
            [thr, 0.0, thr, thr, 0.0, 0.0, thr, 0.0],
            [2.5 * thr, 0.0, 0.0, 0.3 * thr, 0.0, 2 * thr, 0.0, 0.0],
            [0.4 * thr, 0.4 * thr, 0.4 * thr, 0.4 * thr, -0.5, 0.9 * thr, 0.6 * thr, 0.6 * thr],
            [3.2 * thr, -0.2, 1.7 * thr, 0.1, 0.0, 0.0, 0.0, 0.0],
            [0.5 * thr, 0.75 * thr, 1.5 * thr, 2.5 * thr, 0.0, -0.5 * thr, 1.25 * thr, 0.0],
        ],
        dtype=torch.float32,
    ).T.contiguous()  # (T, N)
    want_s, want_v = canonical_neuron_reference(seqs, neuron)
    want_post = _post_reset(want_v, want_s, neuron)
    sinabs = _import_sinabs()
    try:
        act = SinabsNeuron(neuron)
    except TypeError as exc:  # a sinabs whose LIF / IAF rejects the adapter's arguments
        raise BackendUnavailableError(
            f"sinabs {sinabs.__version__}: LIF()/IAF() reject the adapter's arguments ({exc}); "
            "the adapter was written for sinabs 3.1.3"
        ) from exc
    steps, n = seqs.shape
    with torch.no_grad():
        got_s = act(seqs.reshape(steps * n, 1), steps).reshape(steps, n)
        # sinabs' own state after each step (post-reset), through the layer's forward
        layer, post, v = act.layer, [], torch.zeros(n, 1)
        for t in range(steps):
            layer.v_mem = v
            layer(seqs[t].reshape(n, 1, 1))
            v = layer.v_mem
            post.append(v.reshape(n))
        act._clear()
        got_post = torch.stack(post)
        step_s, step_v, state = [], [], None
        for t in range(steps):
            s, state = act.step(seqs[t], state)
            step_s.append(s)
            step_v.append(state)
    ok = (
        torch.equal(got_s, want_s)
        and torch.equal(got_post, want_post)
        and torch.equal(torch.stack(step_s), want_s)
        and torch.equal(torch.stack(step_v), want_v)
    )
    if not ok:
        raise BackendUnavailableError(
            f"sinabs {sinabs.__version__}: {type(act.layer).__bases__[0].__name__}"
            f"(reset={neuron.reset!r}, beta={neuron.decay}, threshold={neuron.threshold}) does "
            "not reproduce the canonical neuron of backends.specs; the adapter was written for "
            "sinabs 3.1.3's lif_forward_single"
        )


class SinabsBackend(TorchSpikingBackend):
    """The ``sinabs`` backend (see the module docstring for the neuron mapping).

    ``build`` compiles a ConvNetSpec into :class:`backends.blocks.convnet.PerStepConvNet`, a
    ResNetSpec into a SEW-ResNet (:class:`backends.blocks.resnet.ResNet` with ``sew=True``) and a
    SEENSpec into :class:`backends.blocks.seen.SEENNet`, with :class:`SinabsNeuron` as the
    neurons.
    """

    name = "sinabs"
    framework = "sinabs"
    equality = Equality("exact")  # check_neuron_semantics: bit-identical to the canonical neuron
    self_check_neurons = (
        NeuronSpec(model="lif", beta=0.5, reset="zero"),
        NeuronSpec(model="lif", beta=0.5, reset="subtract"),
        NeuronSpec(model="if", reset="zero"),
        NeuronSpec(model="if", reset="subtract"),
        NeuronSpec(model="lif", beta=0.2, threshold=0.3, surrogate="rect",
                   surrogate_alpha=0.5),
    )

    def import_framework(self) -> Any:
        """Import sinabs (see :func:`_import_sinabs`)."""
        return _import_sinabs()

    def check_neuron_semantics(self, neuron: NeuronSpec) -> None:
        """See the module-level :func:`check_neuron_semantics`."""
        check_neuron_semantics(neuron)

    def make_neuron(self, neuron: NeuronSpec) -> nn.Module:
        """A :class:`SinabsNeuron` layer."""
        return SinabsNeuron(neuron)


BACKEND = register_backend(SinabsBackend())
