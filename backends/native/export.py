"""Writing a native model as NIR through its framework's own writer.

Only the frameworks whose own writer takes an arbitrary user network write NIR here:

* spikingjelly 2.0 (``spikingjelly.activation_based.nir_exchange.export_to_nir``): the network
  traced on one sample in the card's layout with ``T = 1``, ``B = 1``;
* snntorch 1.0 (``snntorch.export_nir.export_to_nir``, nirtorch's tracer): the tracer follows
  one time step and cannot unroll a Python loop over time, so it is given the network's per-step
  module: its ``nir_module`` attribute if it has one, else the network itself, on one step
  ``(1, C, H, W)``.

Refused, with the reason: ``torch`` (an ANN: NIR describes spiking graphs), lava-dl (no NIR
writer), norse and sinabs (their writers are not faithful for user graphs:
:mod:`backends.nir_exchange.writers` gives the details for each).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from backends.native.backend import NativeModel

log = logging.getLogger(__name__)

REFUSED: dict[str, str] = {
    "torch": "a torch (ANN) model is not spiking: NIR export is for SNN models",
    "lava-dl": "lava-dl 0.6.0 has no NIR writer",
    "norse": "norse 1.1.0's to_nir is not used: no mapping for torch.nn.Flatten, 0-d LIF "
             "parameters, LIFBoxCell written as LIF with r = 1 (FRAMEWORK_WRITER_NOTES['norse'])",
    "sinabs": "sinabs 3.1.3's to_nir writes tau in time steps with an input gain of 1 whatever r "
              "says, which NIR's readers misread (FRAMEWORK_WRITER_NOTES['sinabs'])",
}
"""Why a native model of each framework is not written as NIR."""


def export_native_nir(model: NativeModel, path: str | Path, *, dt: float = 1e-4) -> Path:
    """Write the native model ``model`` as a ``.nir`` file with its framework's writer.

    Args:
        model: a :class:`~backends.native.backend.NativeModel` (e.g. a loaded checkpoint's).
        path: the file to write (parent folders are created).
        dt: seconds per time step stated in the file (spikingjelly's writer; snntorch's writer
            fixes 1e-4).

    Returns:
        The path written.

    Raises:
        backends.nir_exchange.common.NIRExportError: the framework has no faithful writer (the reason
            from :data:`REFUSED`), or its writer fails on this network (its message, and the
            hint for snntorch's per-step ``nir_module``).
    """
    from backends.nir_exchange import NIRExportError, _import_nir

    nir = _import_nir()
    card = model.card
    if card.framework in REFUSED:
        raise NIRExportError(f"model {card.name!r} ({card.framework}): {REFUSED[card.framework]}")
    t, c, h, w = model.input_shape
    net = model.net
    was = net.training
    net.eval()
    try:
        with torch.no_grad():
            if card.framework == "spikingjelly":
                from spikingjelly.activation_based import functional
                from spikingjelly.activation_based.nir_exchange import export_to_nir

                from backends.native.backend import to_layout

                functional.reset_net(net)
                sample = to_layout(torch.zeros(1, 1, c, h, w), card.layout)
                graph = export_to_nir(net, sample, dt=dt)
            else:  # snntorch
                from snntorch.export_nir import export_to_nir

                step = getattr(net, "nir_module", None) or net
                graph = export_to_nir(step, torch.zeros(1, c, h, w), ignore_dims=[0])
    except NIRExportError:
        raise
    except Exception as exc:
        hint = (" (snntorch's tracer follows one time step: give the network a per-step "
                "'nir_module' attribute)" if card.framework == "snntorch" else "")
        raise NIRExportError(
            f"model {card.name!r}: {card.framework}'s NIR writer fails: {type(exc).__name__}: "
            f"{exc}{hint}") from exc
    finally:
        net.train(was)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(path), graph)
    log.info("wrote %s (%s writer, %d nodes)", path, card.framework, len(graph.nodes))
    return path
