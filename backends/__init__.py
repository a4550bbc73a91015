"""backends package of NeuroFER-Bench.

``from backends import register_model`` registers a native model (:mod:`backends.native.card`);
the name is resolved lazily so that ``import backends`` imports no framework and no torch.
"""

from typing import Any

__all__ = ["register_model", "load_plugin", "ModelCard"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from backends.native import card

        return getattr(card, name)
    raise AttributeError(f"module 'backends' has no attribute {name!r}")
