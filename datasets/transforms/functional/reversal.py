"""Time reversal of events (t' = max(t) - t, order reversed, polarity inverted by default)."""

from __future__ import annotations

import numpy as np

from datasets.transforms.functional.common import _check_fields, _check_sorted


def time_reversal(
    events: np.ndarray, flip_polarities: bool = True, keep_start: bool = False
) -> np.ndarray:
    """Play the recording backwards.

    ``t' = max(t) - t`` (Spiking-FER ``RandomTimeReversal``, tonic ``RandomTimeReversal``), or
    ``t' = max(t) + min(t) - t`` with ``keep_start`` (the reversed recording then spans the same
    interval ``[min(t), max(t)]``; the two agree when ``min(t) = 0``). The event order is reversed,
    so ``t'`` stays sorted, and with ``flip_polarities`` ``p' = 1 - p`` (a brightness increase
    played backwards is a decrease; both upstreams do this).

    Args:
        events: structured ``(N,)`` with fields ``t`` (µs) and ``p``, sorted by ``t``.
        flip_polarities: also invert polarities.
        keep_start: keep ``min(t)`` as the start time.

    Returns:
        New events ``(N,)`` (a contiguous copy), same dtype, sorted by ``t``.

    Raises:
        ValueError: missing fields or unsorted ``t``.
    """
    _check_fields(events, "tp")
    _check_sorted(events)
    if events.shape[0] == 0:
        return events.copy()
    out = events[::-1].copy()
    t = out["t"]
    offset = t[0] + (t[-1] if keep_start else 0)
    out["t"] = offset - t
    if flip_polarities:
        out["p"] = out["p"] == 0
    return out
