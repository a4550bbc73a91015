"""snntorch backend: the architecture specs compiled with snntorch's ``Leaky`` neurons.

snntorch is imported lazily (inside functions), so a missing or broken snntorch disables only
this backend (:meth:`SnnTorchBackend.available` says why).

Neuron mapping (checked against the source of snntorch 1.0.0, ``snntorch/_neurons/leaky.py``
and ``neurons.py``). With ``reset_delay=True`` (snntorch's default, used here) one call of
``Leaky`` at step ``t`` with input ``I[t]`` and the previous membrane ``U[t-1]`` does::

    r    = spike_grad(U[t-1] - thr).detach()         # the spike of step t-1, re-derived
    U[t] = beta * (1 - r) * U[t-1] + I[t]            # reset_mechanism="zero"
    U[t] = beta * U[t-1] + I[t] - r * thr            # reset_mechanism="subtract"
    S[t] = spike_grad(U[t] - thr)                    # no output delay: S[t] is read from U[t]

i.e. the reset of step ``t-1``'s spike is applied inside step ``t``'s update ("delayed reset");
``U[t]`` is the membrane *before* its own reset. The canonical neuron of :mod:`backends.specs`
(``v[t] = beta v[t-1]' + I[t]``, ``s[t] = H(v[t] - thr)``, ``v[t]' = reset(v[t])``) maps as:

* ``U[t] = v[t]`` (pre-reset potential), ``S[t] = s[t]``, ``beta = NeuronSpec.decay`` (IF: a
  ``Leaky`` with ``beta = 1``), ``threshold = NeuronSpec.threshold``;
* reset ``"zero"``: ``beta (1 - s[t-1]) v[t-1] + I[t] = beta v[t-1]' + I[t]``: identical;
* reset ``"subtract"``: snntorch subtracts ``thr`` *after* the decay, the canonical neuron
  ``beta * thr`` (it decays the reset potential). Identical for IF (``beta = 1``); for LIF the
  adapter uses :class:`CanonicalLeaky`, a ``Leaky`` subclass whose subtract update is
  ``U[t] = beta * (U[t-1] - r * thr) + I[t]`` (everything else is snntorch's code);
* ``spike_grad`` = :class:`backends.blocks.neurons.SurrogateSpike`, whose forward is ``x >= 0``
  (``H(0) = 1``, as spikingjelly and lava-dl; snntorch's ``surrogate.atan`` uses ``x > 0``) and
  whose ATan backward is ``alpha / 2 / (1 + (pi / 2 alpha x)^2)``: the same formula as
  spikingjelly's ``surrogate.ATan`` and snntorch's ``surrogate.ATan`` (so ``alpha`` maps 1:1;
  both default to 2);
* the reset term is detached from the graph (snntorch's ``mem_reset`` detaches), as
  spikingjelly's ``detach_reset=True`` that Spiking-FER uses.

``reset_delay=False`` is not used: there snntorch keeps the post-reset membrane and re-derives
``r`` from it, so for the subtract reset a neuron whose post-reset potential is still
``>= thr`` (``v >= 2 thr``) gets ``thr`` subtracted twice in the next step and its spike is
suppressed when ``thr <= v[t] < 2 thr``; the forward pass is not the canonical one.

:func:`check_neuron_semantics` runs the compiled neuron against
:func:`backends.blocks.neurons.canonical_neuron_reference` (once per neuron spec; :meth:`build`
and :meth:`available` call it), so a future snntorch that changes its update order disables
this backend with a clear message instead of silently changing the dynamics.

Other details: snntorch registers every neuron in the class-level list
``SpikingNeuron.instances`` (used only for ``init_hidden=True``), which would keep every model
ever built alive; the adapter removes its neurons from it. The membrane state is passed
explicitly (``init_hidden=False``) and starts at 0 in each forward pass; the module's ``mem``
buffer is emptied after the pass (so no graph is kept and ``copy.deepcopy`` works).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import torch
from torch import nn

from backends.base import BackendUnavailableError, register_backend
from backends.blocks.neurons import canonical_neuron_reference, check_neuron, surrogate_for
from backends.equality import Equality
from backends.framework import TorchSpikingBackend, import_or_unavailable
from backends.specs import NeuronSpec

log = logging.getLogger(__name__)


def _import_snntorch() -> Any:
    """Import snntorch.

    Raises:
        BackendUnavailableError: it cannot be imported (message has the cause).
    """
    return import_or_unavailable("snntorch")


@functools.cache
def _canonical_leaky_class() -> type:
    """Create :class:`CanonicalLeaky` (a subclass of ``snntorch.Leaky``, so made on first use)."""
    snn = _import_snntorch()

    class CanonicalLeaky(snn.Leaky):
        """``snntorch.Leaky`` whose subtract reset decays with the membrane:
        ``U[t] = beta * (U[t-1] - r * thr) + I[t]`` (canonical neuron of :mod:`backends.specs`)
        instead of snntorch's ``beta * U[t-1] + I[t] - r * thr``. The zero reset and all the rest
        are snntorch's own code."""

        def _base_sub(self, input_: torch.Tensor) -> torch.Tensor:
            return self.beta.clamp(0, 1) * (self.mem - self.reset * self.threshold) + input_

    CanonicalLeaky.__module__ = __name__
    CanonicalLeaky.__qualname__ = "CanonicalLeaky"
    return CanonicalLeaky


def __getattr__(name: str) -> Any:
    """Module attribute ``CanonicalLeaky`` (created lazily; lets pickle find the class)."""
    if name == "CanonicalLeaky":
        return _canonical_leaky_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_leaky(neuron: NeuronSpec) -> nn.Module:
    """An snntorch ``Leaky`` (``CanonicalLeaky`` for the subtract reset) for ``neuron``.

    Raises:
        BackendUnavailableError: snntorch is missing.
        ValueError, TypeError: invalid ``neuron`` (see :func:`backends.blocks.neurons.check_neuron`).
    """
    check_neuron(neuron)
    snn = _import_snntorch()
    cls = _canonical_leaky_class() if neuron.reset == "subtract" else snn.Leaky
    lif = cls(
        beta=float(neuron.decay),
        threshold=float(neuron.threshold),
        spike_grad=surrogate_for(neuron),
        reset_mechanism=neuron.reset,
        reset_delay=True,
        init_hidden=False,
    )
    instances = snn.SpikingNeuron.instances
    for i in range(len(instances) - 1, -1, -1):
        if instances[i] is lif:
            del instances[i]
    return lif


class LeakyNeuron(nn.Module):
    """A layer of snntorch ``Leaky`` neurons stepped through time (a
    :class:`backends.blocks.activations.TimeActivation`); the ``Leaky`` module is the child ``lif``
    (NeuroBench's hooks look for ``snntorch.SpikingNeuron`` modules)."""

    spiking = True

    def __init__(self, neuron: NeuronSpec) -> None:
        super().__init__()
        self.neuron = neuron
        self.lif = make_leaky(neuron)

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Spikes for the input currents ``x`` ``(steps*B, ...)`` (time-major), membrane from 0.

        Returns:
            ``(steps*B, ...)`` spikes in {0, 1} (float, with the surrogate gradient).
        """
        cur = x.reshape(steps, -1, *x.shape[1:])
        mem = torch.zeros_like(cur[0])
        out = []
        try:
            for t in range(steps):
                spk, mem = self.lif(cur[t], mem)
                out.append(spk)
        finally:
            self._clear()
        return torch.stack(out).flatten(0, 1)

    def step(
        self, x: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``x`` ``(B, ...)`` input current, ``state`` the membrane ``U[t-1]`` (None at
        ``t = 0``); returns ``(S[t], U[t])``."""
        mem = torch.zeros_like(x) if state is None else state
        return self.lif(x, mem)

    def _clear(self) -> None:
        """Drop the state snntorch keeps on the module (``mem`` buffer, ``reset``)."""
        dev = self.lif.mem.device
        self.lif.mem = torch.zeros(0, device=dev)
        if hasattr(self.lif, "reset") and isinstance(self.lif.reset, torch.Tensor):
            self.lif.reset = torch.zeros(0, device=dev)


@functools.cache
def check_neuron_semantics(neuron: NeuronSpec) -> None:
    """Check that the compiled snntorch neuron runs the canonical dynamics exactly.

    Drives one neuron per input sequence over 8 steps with currents that hit the threshold
    exactly, exceed twice the threshold, stay below it and go negative, and compares spikes and
    pre-reset membrane with :func:`backends.blocks.neurons.canonical_neuron_reference`
    (``torch.equal``: bit-identical).

    Raises:
        BackendUnavailableError: snntorch is missing, or its neuron does not reproduce the
            canonical dynamics (the installed version changed its update order).
    """
    thr = float(neuron.threshold)
    seqs = torch.tensor(
        [
            [thr, 0.0, thr, thr, 0.0, 0.0, thr, 0.0],
            [2.5 * thr, 0.0, 0.0, 0.3 * thr, 0.0, 2 * thr, 0.0, 0.0],
            [0.4 * thr, 0.4 * thr, 0.4 * thr, 0.4 * thr, -0.5, 0.9 * thr, 0.6 * thr, 0.6 * thr],
            [3.2 * thr, -0.2, 1.7 * thr, 0.1, 0.0, 0.0, 0.0, 0.0],
        ],
        dtype=torch.float32,
    ).T.contiguous()  # (T, N)
    want_s, want_v = canonical_neuron_reference(seqs, neuron)
    try:
        lif = make_leaky(neuron)
    except TypeError as exc:  # an snntorch whose Leaky lacks reset_delay / reset_mechanism
        import snntorch

        raise BackendUnavailableError(
            f"snntorch {snntorch.__version__}: Leaky() rejects the adapter's arguments ({exc}); "
            "the adapter was written for snntorch 1.0.0"
        ) from exc
    mem = torch.zeros_like(seqs[0])
    got_s, got_v = [], []
    with torch.no_grad():
        for t in range(seqs.shape[0]):
            spk, mem = lif(seqs[t], mem)
            got_s.append(spk)
            got_v.append(mem)
    if not (torch.equal(torch.stack(got_s), want_s) and torch.equal(torch.stack(got_v), want_v)):
        import snntorch

        raise BackendUnavailableError(
            f"snntorch {snntorch.__version__}: Leaky(reset_mechanism={neuron.reset!r}, "
            f"beta={neuron.decay}) does not reproduce the canonical neuron of backends.specs; "
            "the adapter was written for snntorch 1.0.0's update order"
        )


class SnnTorchBackend(TorchSpikingBackend):
    """The ``snntorch`` backend (see the module docstring for the neuron mapping).

    ``build`` compiles a ConvNetSpec into :class:`backends.blocks.convnet.PerStepConvNet` and a
    ResNetSpec into a SEW-ResNet (:class:`backends.blocks.resnet.ResNet` with ``sew=True``), with
    :class:`LeakyNeuron` as the neurons.
    """

    name = "snntorch"
    framework = "snntorch"
    equality = Equality("exact")  # check_neuron_semantics: bit-identical to the canonical neuron
    self_check_neurons = (
        NeuronSpec(model="lif", beta=0.5, reset="zero"),
        NeuronSpec(model="lif", beta=0.5, reset="subtract"),
        NeuronSpec(model="if", reset="zero"),
    )

    def import_framework(self) -> Any:
        """Import snntorch (see :func:`_import_snntorch`)."""
        return _import_snntorch()

    def check_neuron_semantics(self, neuron: NeuronSpec) -> None:
        """See the module-level :func:`check_neuron_semantics`."""
        check_neuron_semantics(neuron)

    def make_neuron(self, neuron: NeuronSpec) -> nn.Module:
        """A :class:`LeakyNeuron` layer."""
        return LeakyNeuron(neuron)


BACKEND = register_backend(SnnTorchBackend())
