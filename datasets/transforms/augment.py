"""Event data augmentations (EDAs) of Spiking-FER, seeded and stateless.

Spiking-FER (Barchid et al., CBMI 2023; repository Barchid/spiking-fer) trains with six EDAs,
built in ``project/utils/transforms.py`` (``DVSTransform``) in this order (file: class; then the
probability and parameters it uses):

- ``flip``: ``project/utils/transform_dvs.py``: ``RandomFlipLR``, x' = W - 1 - x; p = 0.5.
- ``background_activity``: ``transform_dvs.py``: ``BackgroundActivityNoise(severity=5)``,
  uniform noise events, 20 % of N at severity 5; wrapped in ``RandomApply(p=0.5)``.
- ``reverse``: ``transform_dvs.py``: ``RandomTimeReversal(p=0.2)``, t' = max(t) - t, order
  reversed, polarity inverted.
- (``flip_polarity``, allowed but not in the six defaults): ``transform_dvs.py``:
  ``RandomFlipPolarity(p=0.2)``, each event flipped independently with probability 0.2.
- ``event_drop``: ``project/utils/dvs_noises.py``: ``EventDrop`` -> ``project/utils/drop_event.py``:
  uniform choice of identity / drop by time / drop by area / random drop.
- binning: ``transform_dvs.py``: ``CustomToFrame`` (T = 6, 2500 events per frame) +
  ``BinarizeFrame`` (see :mod:`datasets.transforms.binning`).
- ``crop``: torchvision ``RandomResizedCrop((128, 128), NEAREST)`` (scale (0.08, 1), ratio
  (3/4, 4/3)) on the binned frames; without ``crop``, ``Resize((128, 128), NEAREST)`` instead.
- ``mirror``: ``project/utils/transforms.py``: ``FaceMirror`` on the frames, one half copied
  mirrored onto the other (side 50/50); wrapped in ``RandomApply(p=0.5)``.

(``train.py`` sets ``timesteps = 6`` and the default ``--edas`` list
``flip,background_activity,crop,reverse,mirror,event_drop``.)

Design here (tonic's layout): every augmentation is a pure numpy function with explicit
parameters (:mod:`datasets.transforms.functional`, one operation per module) plus a frozen
dataclass ``__call__(data, rng)`` (:mod:`datasets.transforms.edas`) that draws the random
parameters from the ``np.random.Generator`` it is given and delegates; nothing is stored in
``self`` during a call, so the same generator state gives the same output in any process.
:func:`~datasets.transforms.functional.common.make_rng` derives a per-sample generator from ``(seed,
epoch, index)``. This module is
where they are imported from: it re-exports the kernels, the transforms and the fused path.

Why not tonic's transforms (tonic 1.7.0) directly: they draw from numpy's *global* random state
(``np.random.rand``, ``np.random.choice``, ``np.random.uniform``), which cannot be given a
Generator, so outputs are not reproducible per sample across DataLoader workers. Their
semantics were checked and the tests use them as references where they agree:
``RandomFlipLR`` (x' = W - 1 - x) and ``RandomTimeReversal`` (t' = max(t) - t, order reversed,
and in 1.7.0 polarities inverted by default) agree with Spiking-FER; tonic 1.7.0's
``RandomFlipPolarity`` flips *all* polarities of a sample with probability p, while Spiking-FER
flips each event independently (``per_event``); tonic's ``UniformNoise``, ``DropEvent``,
``DropEventByTime`` and ``DropEventByArea`` match Spiking-FER's copies except where noted below.

Fast path: :class:`~datasets.transforms.fused.FusedSpikingFer` (:mod:`datasets.transforms.fused`)
runs the whole :func:`~datasets.transforms.edas.spiking_fer_augmentations` pipeline in one pass
and returns the same frames, bit for bit, for the same generator (same draws, same
order), 15-30x faster at 300k events: Spiking-FER's binning only counts the central
``T x event_count`` events of the augmented stream, so that stream is never built (noise merged
by co-rank on time buckets, reversal and drops as index arithmetic, only the binned events
gathered). The transforms stay the reference it is tested against.

All event outputs are new arrays of the input dtype (:data:`datasets.io.events.EVENTS_DTYPE` for the
suite's events), inside ``sensor_size`` and sorted by ``t``; inputs are never modified.
"""

from datasets.transforms.binning import ToFrames
from datasets.transforms.edas import (
    KNOWN_EDAS,
    SPIKING_FER_EDAS,
    BackgroundActivityNoise,
    Compose,
    DropEvent,
    DropEventByArea,
    DropEventByTime,
    EventDrop,
    RandomFaceMirror,
    RandomFaceMirrorEvents,
    RandomFlipLR,
    RandomFlipPolarity,
    RandomResizedCrop,
    RandomTimeReversal,
    spiking_fer_augmentations,
)
from datasets.transforms.functional import (
    BACKGROUND_ACTIVITY_FRACTIONS,
    Side,
    background_activity,
    drop_by_area,
    drop_by_time,
    drop_random,
    flip_lr,
    flip_polarity,
    make_rng,
    merge_sorted,
    mirror_events,
    mirror_frames,
    random_resized_crop_params,
    resized_crop,
    sample_drop_box,
    sample_drop_time_window,
    time_reversal,
)
from datasets.transforms.fused import Columns, FusedSpikingFer, as_columns

__all__ = [
    "BACKGROUND_ACTIVITY_FRACTIONS", "KNOWN_EDAS", "SPIKING_FER_EDAS", "BackgroundActivityNoise",
    "Columns", "Compose", "DropEvent", "DropEventByArea", "DropEventByTime", "EventDrop",
    "FusedSpikingFer", "RandomFaceMirror", "RandomFaceMirrorEvents", "RandomFlipLR",
    "RandomFlipPolarity", "RandomResizedCrop", "RandomTimeReversal", "Side", "ToFrames",
    "as_columns", "background_activity", "drop_by_area", "drop_by_time", "drop_random", "flip_lr",
    "flip_polarity", "make_rng", "merge_sorted", "mirror_events", "mirror_frames",
    "random_resized_crop_params", "resized_crop", "sample_drop_box", "sample_drop_time_window",
    "spiking_fer_augmentations", "time_reversal",
]
