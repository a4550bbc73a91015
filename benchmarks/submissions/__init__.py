"""Submission bundles: ``submit`` packs run folders into a self-describing, byte-reproducible
bundle (:mod:`benchmarks.submissions.bundle`); ``verify`` checks a bundle's structure, digests and
records and replays its checkpoints on the test samples (:mod:`benchmarks.submissions.verify`,
:mod:`benchmarks.submissions.replay`)."""
