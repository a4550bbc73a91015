"""Running a native model (a :class:`backends.native.card.ModelCard`) as a backend would.

:class:`NativeBackend` implements the Backend protocol (:mod:`backends.base`) for one card: it
builds the user's network with the card's factory (wrapped in :class:`NativeModel`), checks it
before any training (:func:`check_native_model`: the factory runs, the output has the shape the
card declares, no state leaks from one batch into the next), and runs it on the suite's batches
``(B, T, 2, H, W)``: state reset before every batch, the input reordered to the card's
``layout``, the output read as the card's ``output`` says, and, when asked, every layer measured
by forward hooks (:class:`backends.native.hooks.HookMeter`).

Pairing (documented in docs/guides/your-model.md): a native model runs only in its own
framework, under the backend named after it (:data:`backends.native.card.FRAMEWORK_BACKENDS`).
:func:`backend_for` returns the runner of a cell: the registered adapter for a spec'd
architecture, a :class:`NativeBackend` for a card (whose name is that backend's).

Readouts: ``per_step`` logits ``I[t]`` give ``logits = mean_t I[t]`` and the cumulative
per-step readout ``mean_{s<=t} I[s]`` (as the suite's own models,
:func:`backends.blocks.forward.readout`); ``final`` logits are used as they are (no per-step
readout: early-decision metrics are skipped); ``rates`` are averaged over time when given per
step (the firing rate of each output), and the default loss is the MSE between the rates and the
one-hot target (Fang et al., ICCV 2021, ``parametric_lif_net`` training in spikingjelly).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from typing import Any

import torch
from torch import nn

from backends.base import BackendUnavailableError, ForwardOutput, get_backend
from backends.native.card import FRAMEWORK_PACKAGES, ModelCard, is_native
from datasets.common import InputError

log = logging.getLogger(__name__)

_DISTS = {"snntorch": "snntorch", "spikingjelly": "spikingjelly", "norse": "norse",
          "sinabs": "sinabs", "lava-dl": "lava-dl", "torch": "torch"}


class NativeModelError(InputError, ValueError):
    """A native model that cannot run as its card declares; the message names the plugin file,
    the model and what was expected."""


def _where(card: ModelCard) -> str:
    return f"model {card.name!r}" + (f" (plugin {card.plugin})" if card.plugin else
                                     f" ({card.factory.__module__})")


def import_framework(framework: str) -> Any:
    """Import a card's framework (lava-dl through :func:`backends.adapters.lava_dl.slayer.import_slayer`).

    Raises:
        BackendUnavailableError: it does not import.
    """
    if framework == "lava-dl":
        from backends.adapters.lava_dl import import_slayer

        return import_slayer()
    try:
        return importlib.import_module(FRAMEWORK_PACKAGES[framework])
    except Exception as exc:
        raise BackendUnavailableError(
            f"{framework} is not importable: {type(exc).__name__}: {exc}") from exc


def framework_version(framework: str) -> str:
    """The installed version of ``framework`` (its distribution's), or ``"unavailable"``."""
    try:
        return importlib.metadata.version(_DISTS[framework])
    except importlib.metadata.PackageNotFoundError:
        return "unavailable"


def default_reset(framework: str, net: nn.Module) -> None:
    """Clear the state ``net`` carries between calls, as its framework does it.

    * spikingjelly: ``spikingjelly.activation_based.functional.reset_net`` (every
      ``MemoryModule``'s ``reset``);
    * snntorch: ``snntorch.utils.reset`` (hidden state of ``init_hidden`` neurons) and each
      ``SpikingNeuron``'s ``reset_mem`` (the ``init_leaky`` pattern keeps no state);
    * sinabs: every module's ``reset_states``;
    * norse, lava-dl, torch: nothing (norse's modules take and return their state per call;
      lava-dl's neurons keep none across calls unless ``persistent_state``).

    Modules following the suite's neuron protocol need nothing (they start from rest).
    """
    if framework == "spikingjelly":
        from spikingjelly.activation_based import functional

        functional.reset_net(net)
    elif framework == "snntorch":
        import snntorch
        from snntorch import utils

        utils.reset(net)
        for m in net.modules():
            if isinstance(m, snntorch.SpikingNeuron) and hasattr(m, "reset_mem"):
                m.reset_mem()
    elif framework == "sinabs":
        for m in net.modules():
            if hasattr(m, "reset_states") and callable(m.reset_states):
                m.reset_states()


class NativeModel(nn.Module):
    """The user's network ``net`` with its card; what :meth:`NativeBackend.build` returns.

    Its ``state_dict`` keys are the network's with the ``net.`` prefix (a checkpoint reloads
    through the factory: ``NativeBackend(card).build(...)`` then ``load_state_dict``).
    """

    def __init__(self, card: ModelCard, net: nn.Module, input_shape: tuple[int, int, int, int],
                 num_classes: int) -> None:
        super().__init__()
        self.card = card
        self.arch = card
        self.net = net
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.time_folded = card.output == "final"
        self.meter = None  # a HookMeter, created on the first measured pass

    def forward(self, x: torch.Tensor, frames: torch.Tensor | None = None) -> Any:
        """The network on ``x`` in the card's layout (and ``frames`` for a two-input card)."""
        return self.net(x) if frames is None else self.net(x, frames)


def to_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``(B, T, C, H, W)`` -> the card's layout (``TBCHW``, ``BTCHW`` or ``BCHWT``)."""
    if layout == "TBCHW":
        return x.transpose(0, 1).contiguous()
    if layout == "BCHWT":
        return x.permute(0, 2, 3, 4, 1).contiguous()
    return x


def expected_output_shape(card: ModelCard, b: int, k: int) -> list[tuple[int, ...]]:
    """The output shapes the card allows for a batch of ``b`` and ``k`` classes."""
    t = card.n_time_bins
    per_step = {"TBCHW": (t, b, k), "BTCHW": (b, t, k), "BCHWT": (b, k, t)}[card.layout]
    if card.output == "per_step":
        return [per_step]
    if card.output == "final":
        return [(b, k)]
    return [(b, k), per_step]


def read_output(card: ModelCard, out: Any, b: int, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits (B, K), logits_per_step (B, T, K) or None)`` from the network's output.

    Raises:
        NativeModelError: the output is not a tensor, or not of a shape the card allows.
    """
    if not isinstance(out, torch.Tensor):
        raise NativeModelError(
            f"{_where(card)}: the network must return one tensor ({card.output} output, shape "
            f"{' or '.join(str(s) for s in expected_output_shape(card, b, k))}), got "
            f"{type(out).__name__}")
    allowed = expected_output_shape(card, b, k)
    if tuple(out.shape) not in allowed:
        raise NativeModelError(
            f"{_where(card)}: output of shape {tuple(out.shape)} does not fit output="
            f"{card.output!r} with layout {card.layout!r}: expected "
            f"{' or '.join(str(s) for s in allowed)} for a batch of {b} and {k} classes")
    if out.dim() == 2:
        return out, None
    per_step = {"TBCHW": lambda o: o.transpose(0, 1), "BTCHW": lambda o: o,
                "BCHWT": lambda o: o.transpose(1, 2)}[card.layout](out)  # (B, T, K)
    steps = per_step.shape[1]
    denom = torch.arange(1, steps + 1, device=out.device, dtype=per_step.dtype).view(1, -1, 1)
    cumulative = per_step.cumsum(dim=1) / denom
    return cumulative[:, -1], cumulative


def check_native_model(backend: NativeBackend, model: NativeModel, *, batch: int = 2,
                       seed: int = 0) -> None:
    """Checks before any training, in ``eval()`` mode on a random event batch (counts 0..2):
    the output's shape fits the card, and the same batch run twice gives the same logits (the
    reset clears every state; otherwise state leaks from one batch into the next). The model's
    training mode is restored.

    Raises:
        NativeModelError: the forward pass raises, the output has the wrong shape, or the two
            outputs differ (the message names the model, its file and the reset used).
    """
    card = model.card
    t, c, h, w = model.input_shape
    gen = torch.Generator().manual_seed(seed)
    x = torch.poisson(torch.full((batch, t, c, h, w), 0.3), generator=gen)
    if card.binarize:
        x = x.clamp(max=1.0)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = x.to(device)
    frames = (torch.rand((batch, 2, 1, h, w), generator=gen).to(device)
              if "frames" in card.inputs else None)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                a = backend.forward(model, x, frames=frames).logits
                b = backend.forward(model, x, frames=frames).logits
            except NativeModelError:
                raise
            except Exception as exc:
                raise NativeModelError(
                    f"{_where(card)}: the forward pass on a batch of shape "
                    f"{tuple(to_layout(x, card.layout).shape)} ({card.layout}) raises "
                    f"{type(exc).__name__}: {exc}") from exc
        if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
            reset = (card.reset.__qualname__ if card.reset is not None
                     else f"the {card.framework} default reset")
            raise NativeModelError(
                f"{_where(card)}: state leaks from one batch into the next: the same batch run "
                f"twice in eval() mode gives different outputs (max difference "
                f"{float((a - b).abs().max()):.3g}) after {reset}; expected identical outputs. "
                "Give the card a reset=callable that clears every state the model keeps")
    finally:
        model.train(was)


class NativeBackend:
    """The Backend protocol for one native model (see the module docstring)."""

    equality = None
    unsupported: dict[str, str] = {}

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        self.name = card.backend
        self.framework = card.framework
        self.spiking = card.spiking

    def available(self) -> tuple[bool, str]:
        """``(True, "")`` if the card's framework imports, else ``(False, reason)``."""
        try:
            import_framework(self.framework)
        except BackendUnavailableError as exc:
            return False, str(exc)
        except Exception as exc:  # never raise
            return False, f"{self.framework} failed to import: {type(exc).__name__}: {exc}"
        return True, ""

    def versions(self) -> dict[str, str]:
        """``{"torch": ..., <framework>: ...}``."""
        return {"torch": torch.__version__, self.framework: framework_version(self.framework)}

    def build(self, arch: Any, input_shape: tuple[int, int, int, int], num_classes: int,
              *, check: bool = True) -> NativeModel:
        """Build the card's network for inputs ``(T, C, H, W)`` and ``num_classes`` classes and
        (``check``) run :func:`check_native_model` on it.

        Raises:
            NativeModelError: ``input_shape`` does not match the card, the factory raises or
                returns no ``torch.nn.Module``, or a check fails.
        """
        card = self.card
        if arch is not card and getattr(arch, "name", None) != card.name:
            raise ValueError(f"NativeBackend({card.name!r}) cannot build {arch!r}")
        t, c, h, w = (int(v) for v in input_shape)
        if (t, (h, w)) != (card.n_time_bins, tuple(card.input_size)):
            raise NativeModelError(
                f"{_where(card)}: inputs of shape (T, C, H, W) = {tuple(input_shape)}; the card "
                f"declares n_time_bins={card.n_time_bins}, input_size={tuple(card.input_size)}")
        import_framework(self.framework)
        try:
            net = card.factory(int(num_classes), c)
        except Exception as exc:
            raise NativeModelError(
                f"{_where(card)}: the factory {card.factory.__qualname__}(num_classes="
                f"{num_classes}, in_channels={c}) raises {type(exc).__name__}: {exc}") from exc
        if not isinstance(net, nn.Module):
            raise NativeModelError(
                f"{_where(card)}: the factory must return a torch.nn.Module, got "
                f"{type(net).__name__}")
        model = NativeModel(card, net, (t, c, h, w), int(num_classes))
        if check:
            check_native_model(self, model)
        return model

    def reset(self, model: NativeModel) -> None:
        """The card's reset, or the framework's default (:func:`default_reset`)."""
        if self.card.reset is not None:
            self.card.reset(model.net)
        else:
            default_reset(self.framework, model.net)

    def forward(self, model: nn.Module, x: torch.Tensor, *, frames: torch.Tensor | None = None,
                record_activity: bool = False) -> ForwardOutput:
        """Reset, run ``model`` on ``x`` ``(B, T, C, H, W)`` float32 in the card's layout, read
        the output (module docstring); with ``record_activity`` measure it with hooks.

        Raises:
            TypeError: not a :class:`NativeModel` (possibly ``torch.compile``'d) or ``x`` not a
                float32 tensor; ValueError: a wrong input shape, or frames given to / missing
                for the card; NativeModelError: an output of the wrong shape.
        """
        inner = getattr(model, "_orig_mod", model)
        if not isinstance(inner, NativeModel):
            raise TypeError(f"expected a NativeModel, got {type(inner).__name__}")
        if not isinstance(x, torch.Tensor) or x.dtype != torch.float32:
            raise TypeError(f"x: expected a float32 tensor, got {getattr(x, 'dtype', type(x))}")
        if x.dim() != 5 or tuple(x.shape[1:]) != inner.input_shape:
            raise ValueError(f"x: expected shape (B, {', '.join(map(str, inner.input_shape))}), "
                             f"got {tuple(x.shape)}")
        wants = "frames" in self.card.inputs
        if wants != (frames is not None):
            raise ValueError(f"frames: model {self.card.name!r} takes {self.card.inputs}; "
                             f"frames {'missing' if wants else 'given'}")
        b = x.shape[0]
        self.reset(inner)
        xin = to_layout(x, self.card.layout)
        activity = []
        if record_activity:
            if inner.meter is None:
                from backends.native.hooks import HookMeter

                inner.meter = HookMeter(inner.net, n_time_bins=self.card.n_time_bins,
                                        layout=self.card.layout,
                                        extra_neurons=self.card.neuron_classes)
            with inner.meter.measure(b) as p:  # eager: a compiled graph may bypass hooks
                out = inner(xin, frames)
            activity = p.layers
        else:
            out = model(xin, frames)
        logits, per_step = read_output(self.card, out, b, inner.num_classes)
        return ForwardOutput(logits=logits, logits_per_step=per_step, activity=activity,
                             batch_size=b)

    # -- training hooks read by benchmarks.runner.training --------------------------------------------

    def loss(self, out: ForwardOutput, y: torch.Tensor) -> torch.Tensor:
        """The card's loss on ``(logits or rates (B, K), y (B,))``; default cross-entropy, or for
        ``rates`` the MSE to the one-hot target."""
        if self.card.loss is not None:
            return self.card.loss(out.logits, y)
        if self.card.output == "rates":
            onehot = torch.nn.functional.one_hot(y, out.logits.shape[1]).to(out.logits.dtype)
            return torch.nn.functional.mse_loss(out.logits.float(), onehot.float())
        return torch.nn.functional.cross_entropy(out.logits.float(), y)

    def make_optimizer(self, params: Any, recipe: Any) -> tuple[Any, Any] | None:
        """The card's ``(optimizer, scheduler)`` or ``None`` (the recipe's)."""
        if self.card.optimizer is None:
            return None
        return self.card.optimizer(params, recipe)

    def measurement(self, model: nn.Module) -> dict[str, Any] | None:
        """What the hooks saw over the measured passes (:meth:`HookMeter.report` with the
        membrane and neuron-operation totals), ``None`` before any."""
        inner = getattr(model, "_orig_mod", model)
        meter = getattr(inner, "meter", None)
        if meter is None:
            return None
        return {**meter.report(), "membrane_updates": meter.membrane_total,
                "neuron_ops": meter.neuron_ops_total, "passes": meter.passes}


def backend_for(backend_name: str, arch: Any) -> Any:
    """The runner of a cell: :class:`NativeBackend` for a card (``backend_name`` must be the
    card's backend), the registered adapter otherwise.

    Raises:
        NativeModelError: a card run under another backend than its framework's.
        UnknownNameError: an unknown backend name.
    """
    if is_native(arch):
        if backend_name != arch.backend:
            raise NativeModelError(
                f"{_where(arch)} is a {arch.framework} model: it runs under backend "
                f"{arch.backend!r}, not {backend_name!r}")
        return NativeBackend(arch)
    return get_backend(backend_name)
