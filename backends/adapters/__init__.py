"""Backend adapters, one file per framework, registering themselves by name (discovered on the first lookup)."""
