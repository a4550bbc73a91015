"""Results: the cell spec and the record schema, provenance, validation of run folders, and scoring of released predictions."""
