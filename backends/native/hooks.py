"""Measuring any module graph with forward hooks: spikes, synaptic operations, membrane updates.

:class:`HookMeter` hooks a ``torch.nn.Module`` of any framework and counts, per forward pass, what
the suite's own models count with :class:`backends.activity.ActivityRecorder` (NeuroBench 2.3's
definitions, Yik et al., Nature Communications 2025; see :mod:`backends.activity`):

* **connections**: ``nn.Conv1d/2d/3d`` and ``nn.Linear`` and every subclass (spikingjelly's
  ``layer.Conv2d`` / ``layer.Linear``, the convs inside ``SeqToANNContainer``, lava-dl's
  ``synapse.Dense`` / ``synapse.Conv``, which are ``nn.Conv3d`` with the time axis last and a
  time kernel of 1), except lava-dl's ``synapse.Pool`` (pooling: a ``Conv3d`` with fixed weights,
  not a synapse). Each call is split into time steps (a time-folded ``(T*B, ...)`` input, a
  ``(T, B, ...)`` or ``(B, T, ...)`` sequence, or lava-dl's time-last ``(B, C, H, W, T)``) and
  each step is counted with :meth:`backends.activity.ActivityRecorder.ops`, so that AC vs MAC is
  decided per step as NeuroBench does. Recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` and
  their ``*Cell``; snntorch's recurrent neurons use an ``nn.Linear``/``nn.Conv2d`` for their
  recurrence, which is hooked as a connection) are counted here (NeuroBench's
  ``SynapticOperations`` raises on ``nn.LSTM``): per step and layer, the input product
  ``W_ih x_t`` and the hidden product ``W_hh h_{t-1}`` (the gates stacked: 4 for LSTM, 3 for GRU,
  1 for RNN), each effective count = sum over non-zero inputs of the non-zero weights they meet,
  dense = ``gates * H * (I + H)``; biases and the gate nonlinearities are not synaptic operations.
* **neurons**: the allow-list :func:`neuron_classes` of each framework's spiking classes, plus the
  suite's own neuron modules (``spiking = True``), plus the card's ``neuron_classes``. Only the
  outermost neuron of a nesting counts. A binary ({0, 1}) output counts its non-zeros as spikes.
  A non-negative integer output is spike counts (sinabs' default ``MultiSpike``: an integer
  number of spikes per neuron and step): its spikes are the sum of the counts, the neuron is
  listed in :attr:`HookMeter.spike_counts`, and a connection whose input is that output (the
  same storage: a view such as ``flatten``) or the output of parameter-free leaf modules
  (pooling, flatten, dropout) applied to it counts its synaptic operations as accumulates per
  spike, ``sum_i x_i * R_i`` (:func:`backends.activity.connection_ops` with ``counts=True``; as
  sinabs' ``SNNAnalyzer``: input spikes x fan-out). A count that passes through a function
  outside any module is not followed (NeuroBench's rule then applies: MACs). Any other output
  (fractional or negative values) is *reported* (:attr:`HookMeter.non_binary`), not counted. A
  neuron's spikes go into the row of the
  connection that fed it (the last connection that ran before it and has no neuron yet), as the
  suite's recorder keeps a layer's synaptic operations and spikes in one row; a neuron without one
  gets its own row.
* **membrane updates** (NeuroBench's ``MembraneUpdates``: the elements of the first step plus,
  at each later step, the elements whose stored potential changed): the suite's own neurons
  through :class:`backends.membrane.MembraneProbe` (replay of the canonical neuron); snntorch's
  ``mem`` before and after each call, exactly as NeuroBench's ``NeuronHook``; spikingjelly's
  ``v`` after each single-step call or ``v_seq`` of a multi-step call (``store_v_seq=True``);
  sinabs' ``v_mem`` after a single step or ``recordings["v_mem"]`` (``record_states=True``);
  norse cells' returned state ``.v``. Where none is observable the layer is listed in
  :attr:`HookMeter.unmeasured` and the model's total is ``None``, never a silent zero.
* **neuron operations** (NeuroBench's ``NeuronOperations``): membrane updates x operations per
  update (:data:`backends.activity.NEURON_OPS_PER_UPDATE` by snntorch class and reset; 4 for the
  suite's canonical neuron); ``None`` for a class without an entry (listed).
* **unmeasured modules**: a module that owns parameters but is neither a connection, a recurrent
  layer, a neuron nor a normalisation (batch/layer/group norm: no synaptic operations), e.g.
  norse's ``LILinearCell`` (its own input weights), or an attention block
  (``nn.MultiheadAttention`` or a module whose class name contains ``Attention``/``SSA``: its
  query-key products run outside any hookable layer). They are listed by name and class in
  :attr:`HookMeter.unmeasured`.
"""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from backends.activity import (
    CANONICAL_NEURON_OPS,
    NEURON_OPS_PER_UPDATE,
    ActivityRecorder,
    is_spike_count_input,
    membrane_updates,
)
from backends.base import LayerActivity

log = logging.getLogger(__name__)

_NEURON_NAMES: dict[str, tuple[str, ...]] = {
    "snntorch": ("SpikingNeuron", "LeakyParallel"),
    "spikingjelly.activation_based.neuron": (
        "BaseNode", "SimpleBaseNode", "PSN", "MaskedPSN", "SlidingPSN", "GatedLIFNode",
        "DSRIFNode", "DSRLIFNode", "FlexSN",
    ),
    "norse.torch": (
        "LIF", "LIFCell", "LIFBoxCell", "LIFRecurrent", "LIFRecurrentCell", "LIFAdEx",
        "LIFAdExCell", "LIFAdExRecurrent", "LIFAdExRecurrentCell", "LIFEx", "LIFExCell",
        "LIFExRecurrent", "LIFExRecurrentCell", "LIFRefracCell", "LIFRefracRecurrent",
        "LIFRefracRecurrentCell", "LIFAdExRefracCell", "LIFAdExRefracRecurrent",
        "LIFAdExRefracRecurrentCell", "LIFMCRecurrentCell", "LIFMCRefracRecurrentCell", "LSNN",
        "LSNNCell", "LSNNRecurrent", "LSNNRecurrentCell", "IAF", "IAFCell", "Izhikevich",
        "IzhikevichCell", "IzhikevichRecurrent", "IzhikevichRecurrentCell", "CobaLIFCell",
    ),
    "sinabs.layers": (
        "IAF", "LIF", "ALIF", "IAFRecurrent", "LIFRecurrent", "ALIFRecurrent", "IAFSqueeze",
        "LIFSqueeze",
    ),
    "lava.lib.dl.slayer.neuron.base": ("Neuron",),
}
"""The allow-list of spiking neuron classes by module (an entry's subclasses count too). Not
listed, so never counted as neurons: norse's ``LI``/``LICell``/``LIBoxCell``/``LILinearCell``
(non-spiking leaky integrators), sinabs' ``ExpLeak``/``ExpLeakSqueeze``, spikingjelly's
``NonSpikingBaseNode`` family."""

_NOT_NEURONS: dict[str, tuple[str, ...]] = {
    "spikingjelly.activation_based.neuron": ("NonSpikingBaseNode",),
    "sinabs.layers": ("ExpLeak", "ExpLeakSqueeze"),  # subclasses of sinabs' LIF, not spiking
}

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
_RECURRENT = (nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell)
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def neuron_classes(extra: tuple[type, ...] = ()) -> tuple[type, ...]:
    """The allow-listed spiking neuron classes of the frameworks already imported (a framework
    that is not imported has no instance in any model), plus ``extra``."""
    out: list[type] = list(extra)
    for mod_name, names in _NEURON_NAMES.items():
        mod = sys.modules.get(mod_name)
        if mod is None:
            continue
        for n in names:
            c = getattr(mod, n, None)
            if isinstance(c, type):
                out.append(c)
    return tuple(out)


def _excluded_neurons() -> tuple[type, ...]:
    out = []
    for mod_name, names in _NOT_NEURONS.items():
        mod = sys.modules.get(mod_name)
        for n in names if mod is not None else ():
            c = getattr(mod, n, None)
            if isinstance(c, type):
                out.append(c)
    return tuple(out)


def is_lava_pool(m: nn.Module) -> bool:
    """lava-dl's ``synapse.Pool`` (a ``Conv3d`` subclass that pools)."""
    return type(m).__name__ == "Pool" and type(m).__module__.startswith("lava.lib.dl")


def is_connection(m: nn.Module) -> bool:
    """``nn.Linear`` or ``nn.Conv1d/2d/3d`` (or a subclass), not a lava-dl pool."""
    return isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)) and not is_lava_pool(m)


def _is_attention(m: nn.Module) -> bool:
    name = type(m).__name__
    return isinstance(m, nn.MultiheadAttention) or "Attention" in name or name.endswith("SSA")


def _storage(t: torch.Tensor) -> int:
    """The address of ``t``'s storage (shared by every view of it)."""
    return t.untyped_storage().data_ptr()


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


class _View2d(SimpleNamespace):
    """A conv's parameters as a 2-d conv (for :func:`backends.activity.connection_ops`)."""


class HookMeter:
    """Forward hooks that measure a model of any framework (see the module docstring).

    Args:
        model: the network.
        n_time_bins: ``T`` of its input.
        layout: ``"TBCHW"``, ``"BTCHW"`` or ``"BCHWT"`` (breaks the tie when ``B == T``).
        extra_neurons: classes counted as neurons beyond the allow-list.
        prefix: stripped from module names in the rows (e.g. ``"net."``).

    Usage::

        meter = HookMeter(net, n_time_bins=8, layout="TBCHW")
        with meter.measure(batch_size=B):
            net(x)
        meter.layers()            # list[LayerActivity] of that pass
        meter.membrane_total      # NeuroBench MembraneUpdates, summed over passes and samples

    After passes, the attributes hold what was measured.

    Attributes:
        unmeasured: ``{module name: why}`` (static ones found at construction, plus membranes
            that could not be observed).
        non_binary: ``{module name: class}`` of allow-listed neurons whose output was neither
            binary nor spike counts (non-negative integers).
        spike_counts: ``{module name: class}`` of allow-listed neurons whose output held spike
            counts above 1 (multi-spike neurons), counted as spikes.
        membrane: ``{neuron module name: membrane updates}`` summed over passes.
        neuron_ops: ``{neuron module name: NeuroBench neuron operations}`` (``None`` where the
            class has no entry in the operations table).
    """

    def __init__(self, model: nn.Module, *, n_time_bins: int, layout: str = "TBCHW",
                 extra_neurons: tuple[type, ...] = (), prefix: str = "") -> None:
        from backends.membrane import MembraneProbe

        self.model = model
        self.T = int(n_time_bins)
        self.layout = layout
        self.prefix = prefix
        allow = neuron_classes(tuple(extra_neurons))
        excluded = _excluded_neurons()
        self.neurons: dict[str, nn.Module] = {}
        self.connections: dict[str, nn.Module] = {}
        self.recurrent: dict[str, nn.Module] = {}
        self.passthrough: dict[str, nn.Module] = {}
        self.unmeasured: dict[str, str] = {}
        for name, m in model.named_modules():
            root = not name
            if root:  # a bare layer given as the model: named after its class
                name = type(m).__name__
            inside_neuron = any(name.startswith(p + ".") for p in self.neurons)
            suite_neuron = getattr(m, "spiking", False) is True and not root
            if not inside_neuron and (suite_neuron or (isinstance(m, allow)
                                                       and not isinstance(m, excluded))):
                self.neurons[name] = m
                if getattr(m, "all_to_all", True) is False:  # snntorch RLeaky/RSynaptic
                    self.unmeasured[f"{self._n(name)} (recurrent)"] = (
                        f"{type(m).__name__}(all_to_all=False): its one-to-one recurrent "
                        "weights V act elementwise, outside any hookable layer")
                continue
            if is_connection(m):
                self.connections[name] = m
            elif isinstance(m, _RECURRENT):
                self.recurrent[name] = m
            elif _is_attention(m):
                self.unmeasured[self._n(name)] = (
                    f"{type(m).__name__}: attention products (query-key, attention-value) run "
                    "outside hookable layers")
            elif root or inside_neuron or isinstance(m, _NORMS) or is_lava_pool(m):
                continue
            elif not any(True for _ in m.children()) and not any(True for _ in m.parameters()):
                self.passthrough[name] = m  # pooling, flatten, dropout: spike counts pass through
            elif any(True for _ in m.parameters(recurse=False)):
                self.unmeasured[self._n(name)] = (
                    f"{type(m).__name__}: owns parameters but is no connection, recurrent layer, "
                    "neuron or normalisation the hooks know")
        self._probe = MembraneProbe(model)  # the suite's own neurons (canonical replay)
        self.membrane: dict[str, int] = {}
        self.membrane_dense: dict[str, int] = {}
        self.neuron_ops: dict[str, int | None] = {}
        self.non_binary: dict[str, str] = {}
        self.spike_counts: dict[str, str] = {}
        self.passes = 0
        self._counted: dict[int, torch.Tensor] = {}  # storages holding spike counts in this pass
        self._rec: ActivityRecorder | None = None
        self._B = 0
        self._last_conn: str | None = None
        self._row_of: dict[str, str] = {}
        self._has_neuron: set[str] = set()
        self._vseq: dict[str, list[torch.Tensor]] = {}
        self._handles: list[Any] = []

    # -- naming and time steps -------------------------------------------------------------

    def _n(self, name: str) -> str:
        return name[len(self.prefix):] if self.prefix and name.startswith(self.prefix) else name

    def _steps(self, x: torch.Tensor, core_dim: int) -> list[torch.Tensor]:
        """Split a connection's input into per-step tensors ``(B, ...)`` with ``core_dim`` dims
        (4 for a 2-d conv, 2 for a Linear on ``(B, F)``)."""
        T, B = self.T, self._B
        if x.dim() == core_dim + 1 and x.shape[0] == T and x.shape[1] == B and (
                self.layout != "BTCHW" or T != B):
            return list(x.unbind(0))
        if x.dim() == core_dim + 1 and x.shape[0] == B and x.shape[1] == T:
            return list(x.unbind(1))
        if x.dim() == core_dim and T > 1 and x.shape[0] == T * B:
            return list(x.reshape(T, B, *x.shape[1:]).unbind(0))
        return [x]

    def _linear_steps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-step inputs of a Linear: ``(B, F)`` per call; a sequence ``(T, B, ..., F)`` or
        ``(B, T, ..., F)`` (e.g. tokens ``(T, B, N, D)``); or time folded ``(T*B, ..., F)``."""
        T, B = self.T, self._B
        if x.dim() >= 3 and x.shape[0] == T and x.shape[1] == B and (
                self.layout != "BTCHW" or T != B):
            return list(x.unbind(0))
        if x.dim() >= 3 and x.shape[0] == B and x.shape[1] == T:
            return list(x.unbind(1))
        if x.dim() >= 2 and T > 1 and x.shape[0] == T * B:
            return list(x.reshape(T, B, *x.shape[1:]).unbind(0))
        return [x]

    # -- hooks -----------------------------------------------------------------------------

    def _conn_hook(self, name: str, m: nn.Module, args: tuple, out: Any) -> None:
        if self._rec is None or not args or not isinstance(args[0], torch.Tensor):
            return
        x = args[0].detach()
        row = self._n(name)
        w = m.weight
        if isinstance(m, nn.Linear) or w.dim() == 2:
            layer = m
            parts = self._linear_steps(x)
            parts = [p.reshape(-1, p.shape[-1]) for p in parts]
        elif isinstance(m, nn.Conv3d) or w.dim() == 5:
            if (w.shape[-1] == 1 and x.dim() == 3 and x.shape[-1] == self.T
                    and w.shape[2] == w.shape[3] == 1):  # lava-dl dense synapse: (B, F, T)
                layer = _View2d(weight=w[:, :, 0, 0, 0], bias=getattr(m, "bias", None))
                parts = list(x.unbind(-1))
            elif w.shape[-1] == 1 and x.dim() == 5 and x.shape[-1] == self.T:  # lava-dl: time last
                layer = _View2d(weight=w[..., 0], stride=tuple(m.stride[:2]),
                                padding=tuple(m.padding[:2]) if not isinstance(m.padding, str)
                                else m.padding, dilation=tuple(m.dilation[:2]), groups=m.groups,
                                bias=getattr(m, "bias", None))
                parts = list(x.unbind(-1))
                if w.shape[2] == 1 and w.shape[3] == 1 and x.shape[2] == 1 and x.shape[3] == 1:
                    layer = _View2d(weight=w[:, :, 0, 0, 0], bias=getattr(m, "bias", None))
                    parts = [p.reshape(p.shape[0], -1) for p in parts]  # a dense synapse
            else:
                layer, parts = m, [x]
        elif isinstance(m, nn.Conv1d) or w.dim() == 3:
            layer, parts = m, self._steps(x, 3)
        else:
            layer, parts = m, self._steps(x, 4)
        kind = "linear" if (isinstance(layer, nn.Linear) or layer.weight.dim() == 2) else "conv"
        counts = _storage(x) in self._counted
        for p in parts:
            self._rec.ops(row, kind, p, layer, counts=counts)
        self._last_conn = row

    def _recurrent_hook(self, name: str, m: nn.Module, args: tuple, out: Any) -> None:
        if self._rec is None or not args or not isinstance(args[0], torch.Tensor):
            return
        with torch.no_grad():
            for layer_name, x_seq, h_prev in self._recurrent_steps(name, m, args, out):
                for w_name, inputs in (("ih", x_seq), ("hh", h_prev)):
                    w = getattr(m, f"weight_{w_name}{layer_name}")
                    view = _View2d(weight=w.detach(), bias=None)
                    for x_t in inputs:
                        self._rec.ops(self._n(name), "recurrent", x_t, view,
                                      steps=1 if w_name == "ih" else 0)
        self._last_conn = self._n(name)

    def _recurrent_steps(self, name: str, m: nn.Module, args: tuple, out: Any):
        """Yield ``(weight suffix, [x_t], [h_{t-1}])`` per layer (and direction) of ``m``."""
        x = args[0].detach()
        if isinstance(m, (nn.LSTMCell, nn.GRUCell, nn.RNNCell)):
            hx = args[1] if len(args) > 1 else None
            h = hx[0] if isinstance(hx, tuple) else hx
            if h is None:
                h = torch.zeros(x.shape[0], m.hidden_size, device=x.device, dtype=x.dtype)
            yield "", [x], [h.detach()]
            return
        if getattr(m, "proj_size", 0):
            raise NotImplementedError("nn.LSTM with proj_size")
        batch_first = m.batch_first
        seq = x.transpose(0, 1) if (batch_first and x.dim() == 3) else x  # (L, N, I)
        if seq.dim() == 2:
            seq = seq.unsqueeze(1)
        dirs = 2 if m.bidirectional else 1
        h0 = None
        if len(args) > 1 and args[1] is not None:
            h0 = args[1][0] if isinstance(args[1], tuple) else args[1]
        # re-run layer by layer (no_grad) to observe every layer's hidden sequence
        inp = seq
        for layer in range(m.num_layers):
            outs = []
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                cls = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[type(m).__name__
                                                                     if type(m) in (nn.LSTM, nn.GRU, nn.RNN)
                                                                     else _base_rnn(m)]
                kw = {"nonlinearity": m.nonlinearity} if cls is nn.RNN else {}
                one = cls(inp.shape[-1], m.hidden_size, num_layers=1, bias=m.bias, **kw).to(
                    inp.device, inp.dtype)
                one.weight_ih_l0.data = getattr(m, f"weight_ih{sfx}").detach()
                one.weight_hh_l0.data = getattr(m, f"weight_hh{sfx}").detach()
                if m.bias:
                    one.bias_ih_l0.data = getattr(m, f"bias_ih{sfx}").detach()
                    one.bias_hh_l0.data = getattr(m, f"bias_hh{sfx}").detach()
                src = inp.flip(0) if d else inp
                idx = layer * dirs + d
                h_init = (h0[idx:idx + 1] if h0 is not None else
                          torch.zeros(1, src.shape[1], m.hidden_size, device=src.device,
                                      dtype=src.dtype))
                if cls is nn.LSTM:
                    c_init = (args[1][1][idx:idx + 1] if h0 is not None else torch.zeros_like(h_init))
                    o, _ = one(src, (h_init, c_init))
                else:
                    o, _ = one(src, h_init)
                hs = [h_init[0]] + list(o[:-1].unbind(0))
                yield sfx, list(src.unbind(0)), hs
                outs.append(o.flip(0) if d else o)
            inp = torch.cat(outs, dim=-1)

    def _neuron_pre(self, name: str, m: nn.Module, args: tuple) -> None:
        if self._rec is None:
            return
        if name not in self._row_of:
            last = self._last_conn
            if last is not None and last not in self._has_neuron:
                self._row_of[name] = last
                self._has_neuron.add(last)
            else:
                self._row_of[name] = self._n(name)
        if _is_snntorch(m):
            mem = getattr(m, "mem", None)
            self._vseq.setdefault(name, [])
            self._pre_mem = getattr(self, "_pre_mem", {})
            self._pre_mem[name] = mem.detach().clone() if isinstance(mem, torch.Tensor) else None

    def _neuron_hook(self, name: str, m: nn.Module, args: tuple, out: Any) -> None:
        if self._rec is None:
            return
        s = _first_tensor(out)
        if s is None:
            return
        s = s.detach()
        binary = bool(((s == 0) | (s == 1)).all())
        if binary:
            spikes = int(torch.count_nonzero(s).item())
        elif is_spike_count_input(s):  # multi-spike: an integer number of spikes per step
            self.spike_counts[self._n(name)] = type(m).__name__
            self._counted[_storage(s)] = s
            spikes = int(round(s.double().sum().item()))
        else:
            self.non_binary[self._n(name)] = type(m).__name__
            return
        acc = self._spk.setdefault(name, [0, 0, 0])  # spikes, elements, calls in this pass
        acc[0] += spikes
        acc[1] += int(s.numel())
        acc[2] += 1
        v = self._membrane_after(name, m, out)
        if v is not None:
            self._vseq.setdefault(name, []).extend(v)

    def _passthrough_hook(self, args: tuple, out: Any) -> None:
        """A parameter-free leaf (pooling, flatten, dropout) fed spike counts: its output holds
        them too (if it is still integer-valued, :func:`backends.activity.connection_ops`)."""
        if self._rec is None or not self._counted or not isinstance(out, torch.Tensor):
            return
        if any(isinstance(a, torch.Tensor) and _storage(a) in self._counted for a in args):
            self._counted[_storage(out)] = out

    def _membrane_after(self, name: str, m: nn.Module, out: Any) -> list[torch.Tensor] | None:
        """The stored potential after this call, one tensor per step (``None``: unobservable):
        snntorch ``mem``; spikingjelly ``v`` (single-step) or ``v_seq`` (multi-step, with
        ``store_v_seq=True``); sinabs ``recordings["v_mem"]`` (``record_states=True``, batch
        first); a norse cell's returned state ``.v`` (a lifted, multi-step norse module returns
        only its last state: unobservable)."""
        if name in self._probe.modules:
            return None  # the suite's neurons: MembraneProbe
        if _is_snntorch(m):
            mem = getattr(m, "mem", None)
            return [mem.detach().clone()] if isinstance(mem, torch.Tensor) else None
        mod = type(m).__module__
        if mod.startswith("spikingjelly"):
            if getattr(m, "step_mode", "s") == "m":
                vs = getattr(m, "v_seq", None)
                return list(vs.detach().unbind(0)) if isinstance(vs, torch.Tensor) else None
            v = getattr(m, "v", None)
            return [v.detach().clone()] if isinstance(v, torch.Tensor) else None
        if mod.startswith("sinabs"):
            rec = getattr(m, "recordings", None) or {}
            v = rec.get("v_mem")
            if not isinstance(v, torch.Tensor) or not self._B:
                return None
            v = v.detach()
            return list(v.reshape(self._B, v.shape[0] * v.shape[1] // self._B
                                  if "Squeeze" not in type(m).__name__ else v.shape[0] // self._B,
                                  *(v.shape[2:] if "Squeeze" not in type(m).__name__
                                    else v.shape[1:])).unbind(1))
        if mod.startswith("norse") and type(m).__name__.endswith("Cell") and isinstance(
                out, tuple) and len(out) > 1:
            v = getattr(out[1], "v", None)
            return [v.detach().clone()] if isinstance(v, torch.Tensor) else None
        return None

    # -- passes ----------------------------------------------------------------------------

    def __enter__(self) -> HookMeter:
        for name, m in self.connections.items():
            self._handles.append(m.register_forward_hook(
                lambda mod, a, o, name=name: self._conn_hook(name, mod, a, o)))
        for name, m in self.recurrent.items():
            self._handles.append(m.register_forward_hook(
                lambda mod, a, o, name=name: self._recurrent_hook(name, mod, a, o)))
        for m in self.passthrough.values():
            self._handles.append(m.register_forward_hook(
                lambda mod, a, o: self._passthrough_hook(a, o)))
        for name, m in self.neurons.items():
            self._handles.append(m.register_forward_pre_hook(
                lambda mod, a, name=name: self._neuron_pre(name, mod, a)))
            self._handles.append(m.register_forward_hook(
                lambda mod, a, o, name=name: self._neuron_hook(name, mod, a, o)))
        self._probe.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._probe.__exit__(*exc)
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def begin(self, batch_size: int) -> None:
        """Start a pass of ``batch_size`` samples (a fresh per-pass recorder)."""
        self._rec = ActivityRecorder()
        self._B = int(batch_size)
        self._last_conn = None
        self._vseq = {}
        self._spk: dict[str, list[int]] = {}
        self._counted = {}
        self._probe_before = dict(self._probe.counts)

    def end(self) -> list[LayerActivity]:
        """Finish the pass: add its membrane updates and neuron operations; return its rows."""
        rec, self._rec = self._rec, None
        self._counted = {}
        T, B = self.T, max(self._B, 1)
        for name, (spikes, elements, calls) in self._spk.items():
            # every neuron runs T steps: T calls of one step, or one call of T steps (folded or
            # a sequence); any other pattern counts one step per call
            steps = T if (calls == T or (calls == 1 and elements % (B * T) == 0)) else calls
            row = self._row_of.get(name, self._n(name))
            la = rec._get(row, "neuron")
            la.spikes += float(spikes)
            la.neurons = elements // (B * steps)
            la.time_steps += steps
        for name, m in self.neurons.items():
            n = self._n(name)
            if name in self._probe.modules:
                upd = self._probe.counts.get(name, 0) - self._probe_before.get(name, 0)
                ops_per = CANONICAL_NEURON_OPS
            else:
                seq = self._vseq.get(name)
                if not seq:
                    if n not in self.non_binary and name in self._row_of:
                        self.unmeasured.setdefault(
                            f"{n} (membrane)",
                            f"{type(m).__name__}: the membrane potential per step is not observable "
                            "(spikingjelly: store_v_seq=True; sinabs: record_states=True)")
                    continue
                if len(seq) > 1 and all(v.shape == seq[0].shape for v in seq):
                    upd = membrane_updates(torch.stack(seq))
                else:
                    upd = int(seq[0].numel()) + sum(
                        int(torch.count_nonzero(b - a).item())
                        for a, b in zip(seq[:-1], seq[1:], strict=True) if a.shape == b.shape)
                ops_per = _ops_per_update(m)
            self.membrane[n] = self.membrane.get(n, 0) + int(upd)
            if ops_per is None:
                self.neuron_ops[n] = None
                self.unmeasured.setdefault(
                    f"{n} (neuron ops)",
                    f"{type(m).__name__}: no operations-per-update entry (NeuroBench 2.3 has "
                    "Leaky, Synaptic, Lapicque, Alpha)")
            elif self.neuron_ops.get(n, 0) is not None:
                self.neuron_ops[n] = self.neuron_ops.get(n, 0) + int(upd) * ops_per
        self.passes += 1
        return rec.layers() if rec is not None else []

    def measure(self, batch_size: int) -> _Pass:
        """Context manager for one pass: hooks attached, :meth:`begin` then :meth:`end`; the
        pass's rows are in ``.layers`` of the object it yields."""
        return _Pass(self, batch_size)

    @property
    def membrane_total(self) -> int | None:
        """All membrane updates (summed over passes and samples); ``None`` when a neuron's
        potential was not observable or no neuron was found."""
        if not self.neurons or any(k.endswith("(membrane)") for k in self.unmeasured):
            return None
        counted = [n for n in self.membrane]
        return sum(self.membrane.values()) if counted else None

    @property
    def neuron_ops_total(self) -> int | None:
        """All neuron operations; ``None`` where any layer's is unknown."""
        if self.membrane_total is None or any(v is None for v in self.neuron_ops.values()):
            return None
        return sum(v for v in self.neuron_ops.values() if v is not None)

    def report(self) -> dict[str, Any]:
        """What the record stores: neuron classes, unmeasured and non-binary modules."""
        return {
            "neurons": {self._n(n): type(m).__name__ for n, m in self.neurons.items()},
            "connections": len(self.connections), "recurrent": sorted(
                self._n(n) for n in self.recurrent),
            "unmeasured": dict(self.unmeasured), "non_binary": dict(self.non_binary),
            "spike_counts": dict(self.spike_counts),
        }


class _Pass:
    def __init__(self, meter: HookMeter, batch_size: int) -> None:
        self.meter, self.batch_size = meter, batch_size
        self.layers: list[LayerActivity] = []

    def __enter__(self) -> _Pass:
        self.meter.__enter__()
        self.meter.begin(self.batch_size)
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.layers = self.meter.end()
        finally:
            self.meter.__exit__(*exc)


def _base_rnn(m: nn.Module) -> str:
    for c in type(m).__mro__:
        if c in (nn.LSTM, nn.GRU, nn.RNN):
            return c.__name__
    raise TypeError(type(m).__name__)


def _is_snntorch(m: nn.Module) -> bool:
    return type(m).__module__.startswith("snntorch")


def _ops_per_update(m: nn.Module) -> int | None:
    """NeuroBench's operations per membrane update for ``m`` (snntorch classes by name and
    reset mechanism), else ``None``."""
    if not _is_snntorch(m):
        return None
    table = NEURON_OPS_PER_UPDATE.get(type(m).__name__)
    reset = getattr(m, "_reset_mechanism", None)
    return None if table is None or reset not in table else table[reset]
