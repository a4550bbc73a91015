"""Measurement scripts whose outputs the docs quote: the input pipeline, NEFER loading, membrane
hook overhead, zoo cells and adapter overhead, event decoders and the corruptions' speed."""
