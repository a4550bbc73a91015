"""backends package of NeuroFER-Bench.

``from backends import register_model`` registers a native model (:mod:`backends.native.card`);
the name is resolved lazily so that ``import backends`` imports no framework and no torch.
Importing the package drops third-party log lines that say nothing about results
(:func:`backends.quiet_logs.quiet_third_party_logs`), in every process that uses a backend.
"""

from typing import Any

from backends.quiet_logs import quiet_third_party_logs

quiet_third_party_logs()

__all__ = ["register_model", "load_plugin", "ModelCard"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from backends.native import card

        return getattr(card, name)
    raise AttributeError(f"module 'backends' has no attribute {name!r}")
