"""Third-party log lines that say nothing about a user's results, dropped once per process.

torch's ``torch._library.triton`` logger warns ``"Triton not available, find_triton_kernels = []"``
each time a package registers a ``torch.library.triton_op`` on a machine without Triton (a CPU
build: spikingjelly 2.0 registers its fused LIF/IF kernels that way on first use, so a default
``run`` printed it several times). Triton is optional for every backend of the suite: without
it spikingjelly runs its torch path, whose spikes the equality tests compare. Only that exact
line is dropped; every other record of that logger, and of torch, still reaches the terminal.
"""

from __future__ import annotations

import logging

TRITON_LOGGER = "torch._library.triton"
"""The logger of torch 2.x's ``torch/_library/triton.py`` (``logging.getLogger(__name__)``)."""

TRITON_UNAVAILABLE = "Triton not available"
"""How the dropped message starts (torch 2.6-2.13: ``"Triton not available, find_triton_kernels = []"``)."""


class _DropTritonUnavailable(logging.Filter):
    """Drops the records whose message starts with :data:`TRITON_UNAVAILABLE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TRITON_UNAVAILABLE)


def quiet_third_party_logs() -> None:
    """Attach the filter to :data:`TRITON_LOGGER` (once: a second call adds nothing). torch need
    not be imported: the logger object is the one torch takes later by the same name, and torch's
    log set-up (``torch._logging``) replaces handlers and levels, not a logger's filters."""
    log = logging.getLogger(TRITON_LOGGER)
    if not any(isinstance(f, _DropTritonUnavailable) for f in log.filters):
        log.addFilter(_DropTritonUnavailable())
