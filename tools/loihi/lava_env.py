"""Imports of Lava in the Loihi 2 check's environment (Python 3.10, no torch).

lava-dl's ``netx`` runs on lava-nc alone, but two imports on its way need torch, whose only
builds on the package index for lava-dl 0.6.0 (``torch>=2.3.1,<2.4``, Linux x86-64) are CUDA
builds that fail to import without the ~2.8 GB of ``nvidia-*`` libraries
(``ValueError: libcublas.so.*[0-9] not found``):

* ``lava/lib/dl/netx/__init__.py`` imports ``netx.sequential_modules`` (torch modules wrapping
  Lava processes, unused by ``netx.hdf5``): the package is registered with its search path but
  without running its ``__init__``, so ``lava.lib.dl.netx.hdf5`` imports alone, and
  ``sequential_modules`` is an empty stand-in (Lava's compiler imports every module beside a
  process's own when it looks for process models);
* ``netx/hdf5.py`` imports ``lava.lib.dl.slayer.neuron.rf.neuron_params`` (used only for
  resonate-and-fire neurons): a stand-in module whose ``neuron_params`` raises.

SLAYER itself (training, ``export_hdf5``, the reference rasters) runs in the suite's environment
(``tools/loihi/prepare.py``), which has the same lava-dl 0.6.0.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def _rf_neuron_params(*_args, **_kwargs):
    raise NotImplementedError("resonate-and-fire neurons need SLAYER (torch), which the Loihi 2 "
                              "check's environment does not hold; the suite's models are CUBA")


def import_netx() -> types.ModuleType:
    """Return ``lava.lib.dl.netx.hdf5`` imported without torch (see the module docstring).

    Raises:
        ImportError: lava-dl or lava-nc is not installed.
    """
    name = "lava.lib.dl.netx"
    if name not in sys.modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError(f"{name} not found: run `make loihi-env`")
        pkg = types.ModuleType(name)
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__ = spec
        sys.modules[name] = pkg
    for mod in ("lava.lib.dl.netx.sequential_modules", "lava.lib.dl.slayer", "lava.lib.dl.slayer.neuron", "lava.lib.dl.slayer.neuron.rf"):
        if mod not in sys.modules:
            stand_in = types.ModuleType(mod)
            stand_in.__path__ = []
            stand_in.__file__ = __file__  # Lava's compiler reads a module's file to list its folder
            stand_in.__doc__ = "Stand-in registered by tools/loihi/lava_env.py (needs torch)."
            sys.modules[mod] = stand_in
    sys.modules["lava.lib.dl.slayer.neuron.rf"].neuron_params = _rf_neuron_params
    return importlib.import_module("lava.lib.dl.netx.hdf5")


def versions() -> dict[str, str]:
    """Installed versions of lava-nc, lava-dl and numpy (``"not installed"`` when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("lava-nc", "lava-dl", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out
