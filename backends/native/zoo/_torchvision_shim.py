"""Importing spikingjelly's torchvision-derived model modules without torchvision.

spikingjelly 2.0.0's ``activation_based/model/sew_resnet.py`` and ``spiking_vgg.py`` (and
``spiking_resnet.py``) begin with::

    try:
        from torchvision.models.utils import load_state_dict_from_url
    except ImportError:
        from torchvision._internally_replaced_utils import load_state_dict_from_url

and use that function only to download ImageNet weights when called with ``pretrained=True``.
The set-up does not install torchvision, and no torchvision build can stand beside the suite's
CPU torch 2.13.0: PyPI's ``torchvision==0.28.0`` (the release paired with torch 2.13; 7.7 MB wheel,
24 MB installed with ``--no-deps``) is built against the CUDA torch, its ``_C.so`` links
``libtorch_cuda.so`` / ``libc10_cuda.so``, and ``import torchvision`` then fails with
``RuntimeError: operator torchvision::nms does not exist`` (measured on this machine; the wheel
index serves no CPU build). So :func:`import_model_module` imports such a module with a minimal
stand-in for exactly the two names above, for the duration of that import only: the stand-in's
``load_state_dict_from_url`` raises :class:`PretrainedWeightsUnavailable` (the suite never
downloads weights at run time), and ``sys.modules`` is left as it was, so a later ``import
torchvision`` is not fooled. Where a working torchvision is installed it is used as is.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from datasets.common import InputError

_SHIM_NAMES = ("torchvision", "torchvision.models", "torchvision.models.utils")


class PretrainedWeightsUnavailable(InputError, RuntimeError):
    """A zoo model was asked for downloaded (``pretrained=True``) weights."""


def _no_download(url: str, *args: Any, **kwargs: Any) -> Any:
    raise PretrainedWeightsUnavailable(
        f"pretrained weights ({url}) are not available: the suite downloads nothing at run "
        "time and installs no torchvision; build the zoo model with pretrained=False"
    )


def _torchvision_works() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # not installed, or a CUDA build beside the CPU torch (RuntimeError)
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        return False
    return True


def import_model_module(name: str) -> types.ModuleType:
    """Import the module ``name`` (e.g. ``"spikingjelly.activation_based.model.sew_resnet"``),
    standing in for torchvision's ``load_state_dict_from_url`` if torchvision does not import.

    Returns:
        the imported module (cached in ``sys.modules`` as usual).

    Raises:
        ImportError: the module itself cannot be imported.
    """
    if name in sys.modules or _torchvision_works():
        return importlib.import_module(name)
    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    utils = types.ModuleType("torchvision.models.utils")
    utils.load_state_dict_from_url = _no_download  # type: ignore[attr-defined]
    models.utils = utils  # type: ignore[attr-defined]
    tv.models = models  # type: ignore[attr-defined]
    shim = dict(zip(_SHIM_NAMES, (tv, models, utils), strict=True))
    sys.modules.update(shim)
    try:
        return importlib.import_module(name)
    finally:
        for key, mod in shim.items():
            if sys.modules.get(key) is mod:
                del sys.modules[key]
