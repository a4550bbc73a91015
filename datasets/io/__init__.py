"""Event IO: the suite's event records and the readers and writers of event files (v2e HDF5, AEDAT4, Prophesee)."""
