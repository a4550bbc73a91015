"""Dataset loaders, one file each, registering themselves by name (discovered on the first lookup)."""
