"""The event and frame kernels of the augmentations, one operation per module (tonic's
``functional`` layout): pure numpy functions with explicit parameters, no random state of their
own; the transforms of :mod:`datasets.transforms.edas` draw the parameters and call them."""

from datasets.transforms.functional.common import make_rng, merge_sorted
from datasets.transforms.functional.crop import random_resized_crop_params, resized_crop
from datasets.transforms.functional.drop import (
    drop_by_area,
    drop_by_time,
    drop_random,
    sample_drop_box,
    sample_drop_time_window,
)
from datasets.transforms.functional.flip import flip_lr, flip_polarity
from datasets.transforms.functional.mirror import Side, mirror_events, mirror_frames
from datasets.transforms.functional.noise import BACKGROUND_ACTIVITY_FRACTIONS, background_activity
from datasets.transforms.functional.reversal import time_reversal

__all__ = [
    "BACKGROUND_ACTIVITY_FRACTIONS", "Side", "background_activity", "drop_by_area", "drop_by_time",
    "drop_random", "flip_lr", "flip_polarity", "make_rng", "merge_sorted", "mirror_events",
    "mirror_frames", "random_resized_crop_params", "resized_crop", "sample_drop_box",
    "sample_drop_time_window", "time_reversal",
]
