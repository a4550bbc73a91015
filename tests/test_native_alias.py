"""The earlier import path ``backends.models`` resolves to :mod:`backends.native` itself: the
documented names (``from backends import register_model``, ``backends.models.zoo.register_ci``),
every submodule, and the zoo factory names that records store."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("old,new", [
    ("backends.models.card", "backends.native.card"),
    ("backends.models.hooks", "backends.native.hooks"),
    ("backends.models.export", "backends.native.export"),
    ("backends.models.native", "backends.native.backend"),
    ("backends.models.zoo", "backends.native.zoo"),
    ("backends.models.zoo.sew_resnet", "backends.native.zoo.sew_resnet"),
    ("backends.models.zoo._torchvision_shim", "backends.native.zoo._torchvision_shim"),
])
def test_old_module_path_is_the_new_module(old, new):
    old_mod, new_mod = importlib.import_module(old), importlib.import_module(new)
    assert old_mod is new_mod
    # the alias leaves the module's own identity alone
    assert new_mod.__name__ == new and new_mod.__spec__.name == new


def test_documented_names_are_the_same_objects():
    from backends import register_model
    from backends.models.card import ModelCard as OldCard
    from backends.models.native import NativeBackend as OldBackend
    from backends.models.zoo import ZOO as OLD_ZOO
    from backends.models.zoo import register_ci as old_register_ci
    from backends.native.backend import NativeBackend
    from backends.native.card import ModelCard
    from backends.native.card import register_model as new_register_model
    from backends.native.zoo import ZOO, register_ci

    assert register_model is new_register_model
    assert (OldCard, OldBackend, old_register_ci, OLD_ZOO) == (ModelCard, NativeBackend,
                                                               register_ci, ZOO)
    assert OLD_ZOO is ZOO  # one registry, not a copy
    import backends.models

    assert backends.models.card is importlib.import_module("backends.native.card")


def test_a_stored_zoo_factory_name_resolves():
    # a record's model.factory as written under the earlier path (docs/guides/model-zoo.md)
    stored = "backends.models.zoo.sew_resnet.build_sew_resnet18"
    module, _, name = stored.rpartition(".")
    from backends.native.zoo.sew_resnet import build_sew_resnet18

    assert getattr(importlib.import_module(module), name) is build_sew_resnet18


def test_unknown_names_fail_clearly():
    import backends.models

    with pytest.raises(ModuleNotFoundError, match="backends.native.nosuch"):
        importlib.import_module("backends.models.nosuch")
    with pytest.raises(AttributeError, match="has no attribute 'nosuch'"):
        backends.models.nosuch  # noqa: B018
