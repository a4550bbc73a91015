"""Video or frames -> standardized face -> events (v2e HDF5 layout); CK+ batch conversion.

This reproduces the FerDVS event datasets of Spiking-FER (Barchid et al., CBMI 2023; README of
``Barchid/spiking-fer``, "Reproduction of the video-to-events converted datasets"):

1. the frames of a sequence are read (a folder of images or a video file;
   :mod:`datasets.conversion.sources`) and standardized (68 landmarks, head-pose correction, crop
   from facial proportions, 200x200; :mod:`datasets.conversion.standardize`);
2. the standardized frames are converted to events by a DVS emulator: upstream used v2e, we use
   :func:`eventcv.simulate`, whose pixel model follows v2e, with the same parameters
   (:mod:`datasets.conversion.emulator`, which lists the known differences from upstream);
3. the events are written with :func:`datasets.io.events.write_v2e_h5` (dataset ``events``, (N, 4)
   uint32 ``[t_us, x, y, p]``, p = 1 ON, 0 OFF).

One sequence is converted by :func:`datasets.conversion.sequence.convert_sequence` (with
inspection outputs from :mod:`datasets.conversion.previews`), the CK+ distribution in batch by
:func:`datasets.conversion.ckplus.convert_ckplus`. This module re-exports their names, so
``from datasets.conversion.convert import convert_ckplus, EmulatorParams`` works.
"""

from datasets.conversion.ckplus import (
    CKPLUS_EMOTION_DIR,
    CKPLUS_EMOTIONS,
    CKPLUS_TO_SPIKING_FER,
    FERDVS_CKPLUS_FOLDER,
    BatchSummary,
    CKPlusSequence,
    convert_ckplus,
    find_ckplus_sequences,
    read_ckplus_emotion,
)
from datasets.conversion.emulator import EmulatorParams, frames_to_events
from datasets.conversion.previews import event_image, write_frames, write_preview
from datasets.conversion.sequence import ConversionResult, convert_sequence
from datasets.conversion.sources import (
    CKPLUS_IMAGES_DIR,
    IMAGE_SUFFIXES,
    ConvertError,
    iter_image_files,
    list_frame_files,
    open_video,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "FERDVS_CKPLUS_FOLDER",
    "CKPLUS_IMAGES_DIR",
    "CKPLUS_EMOTION_DIR",
    "CKPLUS_EMOTIONS",
    "CKPLUS_TO_SPIKING_FER",
    "ConvertError",
    "EmulatorParams",
    "frames_to_events",
    "list_frame_files",
    "iter_image_files",
    "open_video",
    "event_image",
    "write_preview",
    "write_frames",
    "ConversionResult",
    "convert_sequence",
    "CKPlusSequence",
    "read_ckplus_emotion",
    "find_ckplus_sequences",
    "BatchSummary",
    "convert_ckplus",
]
