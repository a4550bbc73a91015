"""Transforms of event streams: binning into frames, the data augmentations and the event corruptions."""
