"""Counting NeuroBench's membrane updates of a model's spiking layers during forward passes.

:class:`MembraneProbe` hooks the neuron modules (the layers with ``spiking = True`` that
:mod:`backends.blocks` compiles), replays the canonical neuron
(:func:`backends.blocks.neurons.canonical_neuron_reference`) on the captured currents and counts
NeuroBench's ``MembraneUpdates`` with :func:`backends.activity.membrane_updates`. It lives above
both :mod:`backends.activity` and :mod:`backends.blocks` (which imports the activity
recorder), so that neither imports the other.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from backends.activity import membrane_updates

log = logging.getLogger(__name__)


class MembraneProbe:
    """Counts NeuroBench's ``MembraneUpdates`` of a model's spiking layers during forward passes.

    Hooks every neuron module of ``model`` that follows the suite's activation protocol (a
    module with ``spiking = True``, a :class:`~backends.specs.NeuronSpec` in ``neuron``, called as
    ``act(current, steps)`` with the currents time-major ``(steps*B, ...)``: the snntorch,
    spikingjelly and sinabs adapters), replays the canonical neuron on the captured currents and
    counts the membrane updates with :func:`membrane_updates`. The replayed spikes are compared
    with the module's own output; a mismatch (a backend that is only ``"bounded"`` equal) is
    counted in :attr:`spike_mismatches` and logged.

    Models without such modules (the ANN twin: no membrane, 0 updates; lava-dl's SLAYER blocks:
    not observable here) leave :attr:`found` False and :meth:`total` None.

    Usage::

        with MembraneProbe(model) as probe:
            backend.forward(model, x)          # any number of passes
        probe.total()                          # summed over all passes and samples
        probe.per_layer()                      # {neuron module name: count}

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        import torch

        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"MembraneProbe: expected a torch.nn.Module, got {type(model).__name__}")
        from backends.equality import neuron_modules
        from backends.specs import NeuronSpec

        self.modules = {
            name: m for name, m in neuron_modules(model).items()
            if isinstance(getattr(m, "neuron", None), NeuronSpec)
        }
        self.counts: dict[str, int] = {}
        self.dense: dict[str, int] = {}
        self.spike_mismatches = 0
        self.calls = 0
        self._handles: list[Any] = []

    @property
    def found(self) -> bool:
        """Whether the model has neuron modules this probe can observe."""
        return bool(self.modules)

    def _hook(self, name: str, module: Any, args: tuple, kwargs: dict, output: Any) -> None:
        import torch

        from backends.blocks.neurons import canonical_neuron_reference

        x = args[0] if args else kwargs.get("x")
        steps = args[1] if len(args) > 1 else kwargs.get("steps", 1)
        if not isinstance(x, torch.Tensor):
            return
        self.calls += 1
        with torch.no_grad():
            cur = x.detach().reshape(int(steps), -1, *x.shape[1:])
            s_ref, v_pre = canonical_neuron_reference(cur, module.neuron)
            self.counts[name] = self.counts.get(name, 0) + membrane_updates(v_pre)
            self.dense[name] = self.dense.get(name, 0) + int(v_pre.numel())
            out = output[0] if isinstance(output, tuple) else output
            if isinstance(out, torch.Tensor) and out.numel() == s_ref.numel():
                bad = int(torch.count_nonzero(out.detach().reshape(s_ref.shape) != s_ref).item())
                if bad:
                    self.spike_mismatches += bad
                    log.info("MembraneProbe: %s: %d spikes differ from the canonical replay",
                             name, bad)

    def __enter__(self) -> MembraneProbe:
        for name, m in self.modules.items():
            self._handles.append(m.register_forward_hook(
                lambda mod, args, kwargs, out, name=name: self._hook(name, mod, args, kwargs, out),
                with_kwargs=True,
            ))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def per_layer(self) -> dict[str, int]:
        """``{neuron module name: membrane updates}`` summed over the passes and the batch."""
        return dict(self.counts)

    def total(self) -> int | None:
        """All membrane updates summed over layers, passes and samples; ``None`` when the model
        has no observable neuron module (see the class docstring) or no hook ran (e.g. a
        ``torch.compile``'d model whose compiled graph bypasses the hooks)."""
        return sum(self.counts.values()) if (self.found and self.calls) else None
