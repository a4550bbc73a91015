"""spikingjelly backend: the architecture specs compiled with spikingjelly 2.0's neurons.

spikingjelly (``spikingjelly.activation_based``) is imported lazily (inside functions), so a
missing or broken spikingjelly disables only this backend (:meth:`SpikingJellyBackend.available`
says why).

Neuron mapping (checked against the source of spikingjelly 2.0.0: ``activation_based/neuron/
{base_node,integrate_and_fire,lif}.py``, ``activation_based/functional/neuron.py`` and the
kernels under ``_ops/{if_,lif}/``: ``reference.py``, ``cpu.py``, ``triton.py``,
``kernels.cuh``). A node in multi-step mode (``step_mode="m"``) runs, per step ``t``, with
``V[t-1]`` the post-reset potential::

    H[t] = V[t-1] + X[t]                                    IFNode
    H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]         LIFNode(decay_input=False)
    H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau       LIFNode(decay_input=True)
    S[t] = heaviside(H[t] - v_threshold)                    (x >= 0: H(0) = 1)
    V[t] = S[t] * v_reset + (1 - S[t]) * H[t]               hard reset (v_reset a float)
    V[t] = H[t] - S[t] * v_threshold                        soft reset (v_reset=None)

(``V_reset`` reads 0 in the charge for the soft reset). The canonical neuron of
:mod:`backends.specs` (``v[t] = beta v[t-1]' + I[t]``, ``s[t] = H(v[t] - thr)``,
``v[t]' = reset(v[t])``) maps as follows (``H[t] = v[t]``, ``V[t] = v[t]'``, ``S[t] = s[t]``):

* IF (``NeuronSpec.decay == 1``): ``IFNode``; identical.
* LIF: ``LIFNode(tau=1 / (1 - beta), decay_input=False)``, so that the input is not scaled
  (``decay_input=True``, spikingjelly's default, would charge ``X[t] / tau``: an input equal to
  the threshold would not fire). In real arithmetic ``V - V / tau = beta V``; in float32 it is
  the canonical ``round(beta * V)`` exactly when ``tau`` is a power of two (``beta = 1 - 2^-k``,
  e.g. 0.5, 0.75): ``V / 2^k`` is exact and ``V - V / 2^k`` is then one rounding of the real
  ``beta V``, the same as ``beta * V`` (except for a subnormal membrane, ``|V| < 2^-125``, where
  ``V / 2^k`` itself rounds; a T <= 100 pass never gets there unless its currents are
  subnormal). For any other ``beta`` (SEEN's 0.2: ``tau = 1.25``) ``V / tau`` rounds and the
  result differs from ``beta * V`` in the last bit for some ``V`` (``V = 0.7``: 0.13999999 vs
  0.14); the adapter then uses :class:`CanonicalLIFNode`, an ``LIFNode`` subclass whose charge is
  ``beta * V[t-1] + X[t]`` (fire, reset, surrogate and state handling are spikingjelly's), at the
  cost of spikingjelly's fused kernel (it runs a per-step torch loop, as snntorch does).
* hard reset to 0: ``v_reset=0.``: ``S * 0 + (1 - S) * H = H (1 - S)``, identical. Soft reset:
  ``v_reset=None``: ``V[t] = H[t] - thr S[t]`` and the next charge decays it,
  ``beta (H - thr S) + X``: identical to the canonical ``beta * thr`` (unlike snntorch, no
  subclass is needed for it).
* ``detach_reset=True`` (Spiking-FER's setting): the reset term carries no gradient.
* surrogate: ``"atan"`` -> ``surrogate.ATan(alpha)`` (``dS/dx = alpha / 2 / (1 + (pi / 2 alpha
  x)^2)``, the formula of :class:`backends.blocks.neurons.ATanSpike`); it is one of the built-in
  surrogates of spikingjelly's fused neuron ops (``_ops/surrogate.py: _SURROGATE_IDS``).
  ``"fast_sigmoid"`` and ``"rect"`` use the suite's :class:`backends.blocks.neurons.SurrogateSpike`
  (spikingjelly's ``SuperSpike`` is ``alpha / (1 + |x|)^2``, not ``1 / (1 + alpha |x|)^2``; its
  ``Rect(a)`` has height ``a`` and half-width ``0.5 / a``, not height 1 and half-width ``alpha``);
  spikingjelly then runs its autograd torch reference (a Python surrogate has no fused kernel).
  The forward (``x >= 0``) is the same for all.

Kernels (spikingjelly 2.0 chooses them itself; there is no ``backend=`` argument any more): with
the ATan surrogate and float32 input, ``IFNode`` / ``LIFNode`` call the registered operator
``torch.ops.sj_if.forward`` / ``sj_lif.forward``: on CPU a torch loop with a hand-written
backward (``"torch-reference"``); on CUDA the first importable of ``cuda`` (native extension,
only when built from source with ``SJ_BUILD_NATIVE_CUDA=1``), ``triton``, ``torch``, or the one
forced by ``SJ_IF_CUDA_IMPLEMENTATION`` / ``SJ_LIF_CUDA_IMPLEMENTATION``. The triton and native
kernels compute the same expressions with IEEE division (``tl.div_rn``; nvcc's default
``prec-div``), so the mapping stays exact there; on a GPU this is read from the source, not
measured here. :func:`kernel_label` names the path a neuron layer took in its last forward pass
(``SJNeuron.kernel``) and :meth:`SpikingJellyBackend.runtime_info` summarises it per model.

:func:`check_neuron_semantics` runs the compiled neuron (spikingjelly's multi-step node, and the
adapter's :meth:`SJNeuron.forward` and :meth:`SJNeuron.step`) against
:func:`backends.blocks.neurons.canonical_neuron_reference` (once per neuron spec; :meth:`build` and
:meth:`available` call it), so a spikingjelly that changes its update order disables this
backend with a clear message instead of silently changing the dynamics.

State: a node keeps ``v`` (and ``v_seq``) as module memory; :class:`SJNeuron` resets its node
after every pass (also on error), so each pass starts from 0, no graph is kept between calls and
``copy.deepcopy`` / ``torch.save`` of a model work (``functional.reset_net`` works as well).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from backends.base import BackendUnavailableError, register_backend
from backends.blocks.neurons import canonical_neuron_reference, check_neuron, surrogate_for
from backends.equality import Equality, neuron_modules
from backends.framework import TorchSpikingBackend, import_or_unavailable
from backends.specs import NeuronSpec

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

SJ_VERSION_WRITTEN_FOR = "2.0.0"
_CUDA_ENV = ("SJ_IF_CUDA_IMPLEMENTATION", "SJ_LIF_CUDA_IMPLEMENTATION")


def _import_spikingjelly() -> Any:
    """Import ``spikingjelly.activation_based`` (its ``neuron``, ``surrogate``, ``functional``).

    Returns:
        the ``spikingjelly.activation_based`` package.

    Raises:
        BackendUnavailableError: it cannot be imported (message has the cause).
    """
    return import_or_unavailable("spikingjelly.activation_based", "functional", "neuron",
                                 "surrogate")


def _sj_version() -> str:
    """The installed spikingjelly distribution's version (the package has no ``__version__``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spikingjelly")
    except PackageNotFoundError:
        return "unknown"


def lifnode_tau(beta: float) -> float | None:
    """The ``tau`` for which spikingjelly's ``LIFNode(decay_input=False)`` charge
    ``V - V / tau + X`` equals the canonical ``beta * V + X`` bit for bit in float32, or None.

    That is ``tau = 2^k`` when ``beta = 1 - 2^-k`` with ``1 <= k <= 24`` (then ``V / tau`` is
    exact and ``V - V / tau`` is one correctly rounded ``beta V``; subnormal ``V`` excepted, see
    the module docstring). Other ``beta`` (in (0, 1)) have no such ``tau``.

    Examples: ``lifnode_tau(0.5) == 2.0``, ``lifnode_tau(0.75) == 4.0``,
    ``lifnode_tau(0.2) is None``, ``lifnode_tau(0.9) is None``.
    """
    if not (0.0 < beta < 1.0):
        return None
    m, e = math.frexp(1.0 - beta)  # 1 - beta = m * 2^e, m in [0.5, 1); exact for beta >= 0.5
    k = 1 - e
    if m != 0.5 or not 1 <= k <= 24:
        return None
    return float(2**k)


@functools.cache
def _canonical_lif_class() -> type:
    """Create :class:`CanonicalLIFNode` (a subclass of spikingjelly's ``LIFNode``, so made on
    first use)."""
    sj = _import_spikingjelly()
    from spikingjelly.activation_based import functional

    class CanonicalLIFNode(sj.neuron.LIFNode):
        """spikingjelly's ``LIFNode`` whose charge is the canonical ``H = beta * V + X`` (for a
        ``beta`` that is not ``1 - 2^-k``, where ``V - V / tau`` does not round like
        ``beta * V``). Fire (``surrogate_function(H - v_threshold)``), reset
        (``functional.voltage_reset``), state memory, ``reset()`` and ``store_v_seq`` are
        spikingjelly's; ``tau`` is set to ``1 / (1 - beta)`` for display only. Overriding the
        functional forwards makes ``LIFNode.multi_step_forward`` fall back to the per-step path
        (no fused kernel)."""

        def __init__(self, beta: float, **kwargs: Any) -> None:
            super().__init__(tau=1.0 / (1.0 - beta), decay_input=False, **kwargs)
            self.beta = float(beta)

        def extra_repr(self) -> str:
            return super().extra_repr() + f", beta={self.beta}"

        def single_step_functional_forward(
            self, inputs: tuple[torch.Tensor, ...], states: tuple[Any, ...], **kwargs: Any
        ) -> tuple[tuple[torch.Tensor, ...], tuple[Any, ...]]:
            h = self.beta * states[0] + inputs[0]
            spike = self.surrogate_function(h - self.v_threshold)
            v = functional.voltage_reset(
                h, spike, self.v_threshold, self.v_reset, self.detach_reset
            )
            return (spike,), (v, *states[1:])

        def multi_step_functional_forward(
            self, inputs: tuple[torch.Tensor, ...], states: tuple[Any, ...], **kwargs: Any
        ) -> tuple[tuple[torch.Tensor, ...], tuple[Any, ...]]:
            spikes = []
            for t in range(inputs[0].shape[0]):
                (s,), states = self.single_step_functional_forward(
                    tuple(x[t] for x in inputs), states
                )
                spikes.append(s)
            return (torch.stack(spikes),), states

    CanonicalLIFNode.__module__ = __name__
    CanonicalLIFNode.__qualname__ = "CanonicalLIFNode"
    return CanonicalLIFNode


def __getattr__(name: str) -> Any:
    """Module attribute ``CanonicalLIFNode`` (created lazily; lets pickle find the class)."""
    if name == "CanonicalLIFNode":
        return _canonical_lif_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_node(neuron: NeuronSpec) -> nn.Module:
    """A spikingjelly node in multi-step mode for ``neuron`` (see the module docstring):
    ``IFNode`` for IF, ``LIFNode(tau=2^k, decay_input=False)`` for ``beta = 1 - 2^-k``,
    :class:`CanonicalLIFNode` for any other ``beta``; ``v_threshold = neuron.threshold``,
    ``v_reset = 0.`` (zero reset) or ``None`` (subtract), ``detach_reset=True``.

    Raises:
        BackendUnavailableError: spikingjelly is missing.
        ValueError, TypeError: invalid ``neuron`` (see :func:`backends.blocks.neurons.check_neuron`);
            TypeError also when spikingjelly's constructors reject these arguments.
    """
    check_neuron(neuron)
    sj = _import_spikingjelly()
    if neuron.surrogate == "atan":
        sg: Any = sj.surrogate.ATan(alpha=float(neuron.surrogate_alpha))
    else:
        sg = surrogate_for(neuron)
    kwargs = dict(
        v_threshold=float(neuron.threshold),
        v_reset=0.0 if neuron.reset == "zero" else None,
        surrogate_function=sg,
        detach_reset=True,
        step_mode="m",
    )
    beta = float(neuron.decay)
    if beta == 1.0:
        return sj.neuron.IFNode(**kwargs)
    tau = lifnode_tau(beta)
    if tau is not None:
        return sj.neuron.LIFNode(tau=tau, decay_input=False, **kwargs)
    return _canonical_lif_class()(beta, **kwargs)


def kernel_label(node: nn.Module, x: torch.Tensor) -> str:
    """Which implementation ``node`` runs for input ``x`` in multi-step mode, e.g.
    ``"LIFNode[torch-reference]"`` (CPU fused op), ``"IFNode[triton]"`` (CUDA),
    ``"IFNode[autograd-reference]"`` (a Python surrogate or non-float32 input: spikingjelly's
    plain torch loop), ``"CanonicalLIFNode[torch-loop]"``. (A layer driven by
    :meth:`SJNeuron.step`, e.g. SEEN's output neuron, reads ``"<node>[adapter-step]"``: the
    adapter's per-step charge, not a spikingjelly kernel.)

    Follows ``functional.lif_multi_step`` / ``if_multi_step`` of spikingjelly 2.0.0: the fused op
    runs for a built-in surrogate (here ATan) and a float32 state (the state takes ``x``'s
    dtype); on CUDA ``functional.neuron_implementation`` names the bound kernel.
    """
    sj = _import_spikingjelly()
    cls = type(node).__name__
    if cls == "CanonicalLIFNode":
        return f"{cls}[torch-loop]"
    if not isinstance(node.surrogate_function, sj.surrogate.ATan) or x.dtype != torch.float32:
        return f"{cls}[autograd-reference]"
    kind = "if" if isinstance(node, sj.neuron.IFNode) else "lif"
    try:
        impl = sj.functional.neuron_implementation(kind, x.device)["implementation"]
    except Exception as exc:  # an unexpected device; the forward pass itself said nothing
        impl = f"unknown ({type(exc).__name__})"
    return f"{cls}[{impl}]"


class SJNeuron(nn.Module):
    """A layer of spikingjelly neurons (a :class:`backends.blocks.activations.TimeActivation`); the
    spikingjelly node is the child ``node`` (multi-step mode), so spikingjelly's tools
    (``functional.reset_net``, monitors) find it.

    Attributes:
        neuron: the :class:`~backends.specs.NeuronSpec`.
        node: the spikingjelly node (:func:`make_node`).
        kernel: :func:`kernel_label` of the last forward pass (``""`` before the first).
    """

    spiking = True

    def __init__(self, neuron: NeuronSpec) -> None:
        super().__init__()
        self.neuron = neuron
        self.node = make_node(neuron)
        self.kernel = ""
        self._kernel_key: tuple[str, torch.dtype] | None = None

    def forward(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Spikes for the input currents ``x`` ``(steps*B, ...)`` (time-major), membrane from 0.

        Returns:
            ``(steps*B, ...)`` spikes in {0, 1} (``x``'s dtype, with the surrogate gradient).
        """
        key = (str(x.device), x.dtype)
        if key != self._kernel_key:
            self.kernel, self._kernel_key = kernel_label(self.node, x), key
        self.node.reset()
        try:
            spikes = self.node(x.reshape(steps, -1, *x.shape[1:]))
        finally:
            self.node.reset()  # drop v (and its graph): the next pass starts from 0
        return spikes.flatten(0, 1)

    def _charge(self, v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The node's charge ``H = f(V, X)`` (the expression its multi-step kernel computes)."""
        node = self.node
        if type(node).__name__ == "CanonicalLIFNode":
            return node.beta * v + x
        if hasattr(node, "tau"):  # LIFNode
            from spikingjelly.activation_based import functional

            return functional.lif_charge(x, v, node.tau, node.decay_input, node.v_reset)
        return v + x  # IFNode (_ops/if_/reference.py: h = v + x)

    def step(
        self, x: torch.Tensor, state: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``x`` ``(B, ...)`` input current, ``state`` the pre-reset membrane ``H[t-1]``
        (None at ``t = 0``); returns ``(S[t], H[t])``. The reset of step ``t-1``'s spike is applied
        here (spikingjelly's ``functional.voltage_reset``, spike re-derived as ``H >= thr`` and
        detached), so the state is the pre-reset membrane that SEEN's readout averages."""
        from spikingjelly.activation_based import functional, surrogate

        node = self.node
        self.kernel = f"{type(node).__name__}[adapter-step]"
        self._kernel_key = None
        if state is None:
            v = torch.zeros_like(x)
        else:
            fired = surrogate.heaviside(state - node.v_threshold).detach()
            v = functional.voltage_reset(state, fired, node.v_threshold, node.v_reset, True)
        h = self._charge(v, x)
        return node.surrogate_function(h - node.v_threshold), h


def model_kernels(model: nn.Module) -> dict[str, str]:
    """``{neuron layer name: SJNeuron.kernel}`` of a model built by this backend (the kernels
    of its last forward pass; ``""`` for a layer that has not run)."""
    return {
        name: mod.kernel for name, mod in neuron_modules(model).items() if isinstance(mod, SJNeuron)
    }


@functools.cache
def check_neuron_semantics(neuron: NeuronSpec) -> None:
    """Check that the compiled spikingjelly neuron runs the canonical dynamics exactly.

    Drives one neuron per input sequence over 8 steps with currents that hit the threshold
    exactly, exceed twice the threshold, stay below it and go negative, and compares with
    :func:`backends.blocks.neurons.canonical_neuron_reference` (``torch.equal``: bit-identical):
    spikingjelly's multi-step node (spikes, and the post-reset membrane ``v_seq`` against the
    reference's ``v (1 - s)`` / ``v - thr s``), :meth:`SJNeuron.forward` (spikes) and
    :meth:`SJNeuron.step` (spikes and pre-reset membrane).

    Raises:
        BackendUnavailableError: spikingjelly is missing, rejects the adapter's arguments, or
            does not reproduce the canonical dynamics (the installed version changed them).
    """
    thr = float(neuron.threshold)
    seqs = torch.tensor(
        [
            [thr, 0.0, thr, thr, 0.0, 0.0, thr, 0.0],
            [2.5 * thr, 0.0, 0.0, 0.3 * thr, 0.0, 2 * thr, 0.0, 0.0],
            [0.4 * thr, 0.4 * thr, 0.4 * thr, 0.4 * thr, -0.5, 0.9 * thr, 0.6 * thr, 0.6 * thr],
            [3.2 * thr, -0.2, 1.7 * thr, 0.1, 0.0, 0.0, 0.0, 0.0],
            [0.7, 0.7, 0.7, 0.7, 0.3, 0.3, 0.3, 0.3],
        ],
        dtype=torch.float32,
    ).T.contiguous()  # (T, N)
    want_s, want_v = canonical_neuron_reference(seqs, neuron)
    want_post = want_v * (1 - want_s) if neuron.reset == "zero" else want_v - thr * want_s
    sj_version = _sj_version()
    try:
        node = make_node(neuron)
        layer = SJNeuron(neuron)
    except (TypeError, AssertionError) as exc:  # an API that rejects the adapter's arguments
        raise BackendUnavailableError(
            f"spikingjelly {sj_version}: its neuron rejects the adapter's arguments "
            f"({type(exc).__name__}: {exc}); the adapter was written for spikingjelly "
            f"{SJ_VERSION_WRITTEN_FOR}"
        ) from exc
    with torch.no_grad():
        node.store_v_seq = True
        node_s = node(seqs)
        node_v = node.v_seq
        node.reset()
        layer_s = layer(seqs, seqs.shape[0])
        step_s, step_v, state = [], [], None
        for t in range(seqs.shape[0]):
            s, state = layer.step(seqs[t], state)
            step_s.append(s)
            step_v.append(state)
    ok = (
        isinstance(node_v, torch.Tensor)
        and torch.equal(node_s, want_s)
        and torch.equal(node_v, want_post)
        and torch.equal(layer_s, want_s)
        and torch.equal(torch.stack(step_s), want_s)
        and torch.equal(torch.stack(step_v), want_v)
    )
    if not ok:
        raise BackendUnavailableError(
            f"spikingjelly {sj_version}: {type(node).__name__}(v_reset="
            f"{node.v_reset}, beta={neuron.decay}) does not reproduce the canonical neuron of "
            f"backends.specs; the adapter was written for spikingjelly {SJ_VERSION_WRITTEN_FOR}'s "
            "update order"
        )


class SpikingJellyBackend(TorchSpikingBackend):
    """The ``spikingjelly`` backend (see the module docstring for the neuron mapping).

    ``build`` compiles a ConvNetSpec into :class:`backends.blocks.convnet.PerStepConvNet`, a
    ResNetSpec into a SEW-ResNet (:class:`backends.blocks.resnet.ResNet` with ``sew=True``) and a
    SEENSpec into :class:`backends.blocks.seen.SEENNet`, with :class:`SJNeuron` as the neurons.
    """

    name = "spikingjelly"
    framework = "spikingjelly"

    # check_neuron_semantics: bit-identical to the canonical neuron (IF, LIF with 1 - beta a
    # power of two through LIFNode, other beta through CanonicalLIFNode)
    equality = Equality("exact")
    self_check_neurons = (
        NeuronSpec(model="lif", beta=0.5, reset="zero"),
        NeuronSpec(model="lif", beta=0.5, reset="subtract"),
        NeuronSpec(model="if", reset="zero"),
        NeuronSpec(model="if", reset="subtract"),
        NeuronSpec(
            model="lif",
            beta=0.2,
            threshold=0.3,
            reset="zero",
            surrogate="rect",
            surrogate_alpha=0.5,
        ),
        NeuronSpec(model="lif", beta=0.9, reset="subtract"),
    )

    def import_framework(self) -> Any:
        """Import spikingjelly (see :func:`_import_spikingjelly`)."""
        return _import_spikingjelly()

    def check_neuron_semantics(self, neuron: NeuronSpec) -> None:
        """See the module-level :func:`check_neuron_semantics`."""
        check_neuron_semantics(neuron)

    def make_neuron(self, neuron: NeuronSpec) -> nn.Module:
        """A :class:`SJNeuron` layer."""
        return SJNeuron(neuron)

    def framework_version(self) -> str:
        """spikingjelly's version (see :func:`_sj_version`)."""
        self.import_framework()
        return _sj_version()

    def extra_versions(self) -> dict[str, str]:
        """``spikingjelly_cuda_request``: the CUDA kernel requested through
        ``SJ_IF_CUDA_IMPLEMENTATION`` / ``SJ_LIF_CUDA_IMPLEMENTATION``: ``"auto"`` (neither set:
        spikingjelly picks cuda, triton, torch in that order), else ``"NAME=value, ..."``; the
        kernel actually bound is in :meth:`runtime_info`."""
        req = {v: os.environ.get(v, "auto") for v in _CUDA_ENV}
        request = (
            "auto"
            if set(req.values()) == {"auto"}
            else ", ".join(f"{k}={v}" for k, v in req.items())
        )
        return {"spikingjelly_cuda_request": request}

    def runtime_info(self, model: nn.Module) -> dict[str, str]:
        """``{"spikingjelly_kernels": ...}``: the distinct kernels the model's neuron layers ran
        in their last forward pass, with their layer counts, e.g.
        ``"LIFNode[torch-reference] x3"`` (``"not run"`` before a forward pass)."""
        counts = Counter(k for k in model_kernels(model).values() if k)
        text = ", ".join(f"{k} x{n}" for k, n in sorted(counts.items())) or "not run"
        return {"spikingjelly_kernels": text}


BACKEND = register_backend(SpikingJellyBackend())
