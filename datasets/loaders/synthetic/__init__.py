"""``synthetic-fer-dvs``: the suite's built-in, procedurally generated event FER dataset.

What it is
    Cartoon faces drawn with numpy (an ellipse face, brows, eyes, nose and a mouth with soft,
    anti-aliased edges) that move from a neutral face to the apex of one of seven expressions
    (the six Spiking-FER classes happy, fear, surprise, anger, disgust, sadness, then neutral),
    rendered as grey video at 30 fps and converted to events with eventcv's v2e-style pixel model
    using the Spiking-FER v2e settings (Barchid et al., CBMI 2023, README: ``--pos_thres 0.2
    --neg_thres 0.2 --sigma_thres 0.02 --cutoff_hz 0 --leak_rate_hz 0 --shot_noise_rate_hz 0``),
    under four lighting conditions (:data:`datasets.base.LIGHTING_CONDITIONS`) applied to the
    scene's linear light before conversion. It is written in the FerDVS layout
    (``<root>/SyntheticFerDVS/<subject>/<sequence>.h5`` + ``folds.csv``) so that the same loader,
    binning and protocols run on it as on the real datasets, and the default benchmark needs no
    download. The default: 16 subjects x 7 classes x 2 takes = 224 sequences in four
    subject-independent folds, plus 36 held-out test subjects x 7 classes x 1 take = 252
    sequences in the test split of every fold (new identities no fold trains on, so that a test
    accuracy is an estimate over 40 people, not 4: :data:`TEST_PANEL_NOTE`); 476 sequences of
    24 frames at 64x64, ~3.3 M events, ~18 MB, generated in about 20 s on two idle CPU cores.

    Learnability (measured on the default, fold 0 of its subject-independent folds, chance 14 %):
    a logistic regression on 4x16x16 event-count histograms reaches ~47 % (mean of 4 folds) and a
    3-layer CNN on binary T=8 frames ~60 % after 15 epochs (normal ~85 %, low light ~35 %).

    Expressions follow FACS prototypes (Ekman, Friesen & Hager, "Facial Action Coding System",
    2002; the EMFACS prototype table): happy AU6+12, fear AU1+2+4+5+20+26, surprise AU1+2+5+26,
    anger AU4+5+7+23, disgust AU9+15+16, sadness AU1+4+15, reduced to seven drawing parameters
    (brow raise, inner-brow raise, eye opening, mouth-corner lift, mouth opening, mouth stretch,
    nose wrinkle; :data:`EXPRESSION_APEX`). What varies, so that the task is learnable but not
    trivial: the identity per subject (face ellipse axes and position, eye/brow/nose/mouth
    geometry, skin/background/feature contrast, shading, and an idiosyncratic gain per drawing
    parameter), and per sequence the amplitude, onset frame and rise time of the expression, a
    random blink, small head motion (sinusoidal translation of amplitude 0.3-1.2 px, i.e. a
    displacement of up to ~2 px, and rotation of amplitude 0.5-2 degrees, at 64x64), the lighting
    and the emulator's threshold mismatch. Fear and surprise share most action units, as they do
    in real faces, and are the expected confusion.

What it is not
    It is not a substitute for real faces: there is no texture, hair, skin deformation, 3-D pose,
    talking, or real sensor noise beyond the emulator's. Accuracies on it say nothing about
    accuracy on people. It measures the pipeline (that data, binning, training and metrics work
    end to end) and the *relative* behaviour of backends (accuracy, spikes, synaptic operations,
    latency) on a fixed, reproducible event workload with known lighting effects.

Valence and arousal (metadata only; the event streams do not depend on them)
    Every sequence has a valence and an arousal in ``[-1, 1]`` (:func:`sequence_va`), in
    ``metadata.csv`` and ``SequenceInfo.extra``, so that the built-in data serves the
    valence-arousal task (:mod:`benchmarks.runner.methods`). They come from the circumplex model of
    affect (Russell, "A circumplex model of affect", J. Pers. Soc. Psychol. 39(6), 1980): each
    class sits at the angle Russell's direct circular scaling gives its emotion word
    (:data:`CIRCUMPLEX_DEG`), at a radius set by the sequence's expression amplitude; a faster
    onset (a shorter rise from onset to apex) raises arousal, and each subject has its own
    (valence, arousal) bias, drawn from a stream of its own (:data:`VA_STREAM`), so that
    regression is not classification in disguise (on the default dataset the class alone
    explains only part of the variance: see ``tests/test_va.py``). Neutral sits at the centre
    (plus the subject's bias). Old trees without these columns get their ``metadata.csv`` (and
    manifest) rewritten on open; no event file is touched (:data:`METADATA_VERSION`).

Determinism: every random draw comes from a ``numpy.random.SeedSequence`` keyed by the seed and
the indices (``[seed, subject]`` for the face, ``[seed, subject, class, take, 1]`` for the sequence,
``[..., 2]`` for its lighting) and eventcv is seeded from the sequence's stream, so a seed gives the same bytes in every h5 file (h5py writes no
creation times by default and the HDF5 deflate filter stores no timestamp), whatever the
generation order or an interrupted run. Across machines, numpy's vectorised ``power`` may differ
in the last bit on some CPUs; the manifest records the numpy and eventcv versions.

Where each part is:

* :mod:`~datasets.loaders.synthetic.identities`: the generator's constants and what a sequence
  is: identities, sequence specifications, lighting, valence and arousal;
* :mod:`~datasets.loaders.synthetic.rendering`: drawing the faces and lighting the scene;
* :mod:`~datasets.loaders.synthetic.events`: the event simulation of a rendered sequence;
* :mod:`~datasets.loaders.synthetic.cache`: the dataset on disk: parameters, manifest, cached
  and resumable generation, metadata;
* :mod:`~datasets.loaders.synthetic.dataset`: the registered loaders ``synthetic-fer-dvs`` and
  ``synthetic-fer-dvs-mini``.
"""

from __future__ import annotations

from datasets.loaders.synthetic.cache import (
    METADATA_COLUMNS,
    VA_COLUMNS,
    all_specs,
    ensure_synthetic_fer_dvs,
    fold_rows,
    generate_synthetic_fer_dvs,
    is_test_subject,
)
from datasets.loaders.synthetic.dataset import (
    SyntheticFerDVS,
    SyntheticFerDVSMini,
)
from datasets.loaders.synthetic.events import (
    generate_sequence,
    simulate_events,
)
from datasets.loaders.synthetic.identities import (
    AU_NAMES,
    CIRCUMPLEX_DEG,
    DEFAULTS,
    EXPRESSION_APEX,
    EXPRESSION_PX,
    FOLDER,
    FPS,
    GENERATOR_VERSION,
    LOW_LIGHT_SHOT_NOISE_HZ,
    MANIFEST_FILE,
    METADATA_FILE,
    METADATA_VERSION,
    NAME,
    SYNTHETIC_CLASSES,
    TEST_PANEL_NOTE,
    VA_ONSET_GAIN,
    VA_RADIUS,
    VA_STREAM,
    VA_SUBJECT_SD,
    Identity,
    SequenceSpec,
    draw_identity,
    lighting_for,
    make_spec,
    sequence_va,
    spec_dict,
    subject_va_bias,
)
from datasets.loaders.synthetic.rendering import (
    expression_at,
    illumination,
    linear_to_srgb,
    render_frames,
    render_reflectance,
    srgb_to_linear,
)

__all__ = [
    "AU_NAMES",
    "CIRCUMPLEX_DEG",
    "DEFAULTS",
    "EXPRESSION_APEX",
    "EXPRESSION_PX",
    "FOLDER",
    "FPS",
    "GENERATOR_VERSION",
    "Identity",
    "LOW_LIGHT_SHOT_NOISE_HZ",
    "MANIFEST_FILE",
    "METADATA_FILE",
    "METADATA_VERSION",
    "NAME",
    "SYNTHETIC_CLASSES",
    "SequenceSpec",
    "TEST_PANEL_NOTE",
    "VA_ONSET_GAIN",
    "VA_RADIUS",
    "VA_STREAM",
    "VA_SUBJECT_SD",
    "draw_identity",
    "lighting_for",
    "make_spec",
    "sequence_va",
    "spec_dict",
    "subject_va_bias",
    "expression_at",
    "illumination",
    "linear_to_srgb",
    "render_frames",
    "render_reflectance",
    "srgb_to_linear",
    "generate_sequence",
    "simulate_events",
    "METADATA_COLUMNS",
    "VA_COLUMNS",
    "all_specs",
    "ensure_synthetic_fer_dvs",
    "fold_rows",
    "generate_synthetic_fer_dvs",
    "is_test_subject",
    "SyntheticFerDVS",
    "SyntheticFerDVSMini",
]
