"""Chip targets and fit (backends/targets): the target files against the toolchains' own
constants, the DYNAP-CNN memory and core assignment against sinabs' own mapping code, hand-worked
memory figures, and the refusal of malformed target files."""

from __future__ import annotations

import sys
import types

import pytest

from backends.specs import ConvLayer, ConvNetSpec, DenseLayer, NeuronSpec, get_arch
from backends.targets.fit import conv_layers, dynapcnn_memory, fit
from backends.targets.target import TargetFileError, get_target, load_target, target_names
from datasets.common import UnknownNameError

IF = NeuronSpec(model="if", beta=1.0, threshold=0.25)


class _StandIn(types.ModuleType):
    """Test-only stand-in for SynSense's ``samna``/``samnagui`` (not installable here): any
    attribute is a fresh empty class, enough for sinabs' DYNAP-CNN modules to import."""

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        value = type(attr, (), {})
        setattr(self, attr, value)
        return value


@pytest.fixture
def sinabs_dynapcnn():
    """sinabs 3.1.3's DYNAP-CNN modules imported with stand-ins for samna; every module imported
    here is removed again afterwards."""
    pytest.importorskip("sinabs")
    before = set(sys.modules)
    for name in ("samna", "samnagui", "samna.speck2e", "samna.speck2e.configuration",
                 "samna.speck2f", "samna.speck2f.configuration", "samna.graph", "samna.device"):
        sys.modules[name] = _StandIn(name)
    for parent, child in (("samna", "speck2e"), ("samna", "speck2f"), ("samna", "graph"),
                          ("samna", "device")):
        setattr(sys.modules[parent], child, sys.modules[f"{parent}.{child}"])
    for dev in ("speck2e", "speck2f"):
        sys.modules[f"samna.{dev}"].configuration = sys.modules[f"samna.{dev}.configuration"]
    try:
        from sinabs.backend.dynapcnn import DynapcnnNetwork
        from sinabs.backend.dynapcnn.chip_factory import ChipFactory

        yield DynapcnnNetwork, ChipFactory("speck2fmodule").get_config_builder()
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]


def _sinabs_net(spec: ConvNetSpec, num_classes: int):
    """The spec as a sinabs sequential network (conv/linear -> IAFSqueeze), as a user would
    write it for DYNAP-CNN."""
    import sinabs.layers as sl
    import torch.nn as nn

    mods: list = []
    c = 2
    for conv in spec.convs:
        mods += [nn.Conv2d(c, conv.out_channels, conv.kernel_size, stride=conv.stride,
                           padding=conv.padding, bias=False), sl.IAFSqueeze(batch_size=1)]
        c = conv.out_channels
    layers = conv_layers(spec, 2, num_classes)
    mods.append(nn.Flatten())
    in_f = 1
    for v in layers[len(spec.convs)].in_shape:
        in_f *= v
    for la in layers[len(spec.convs):]:
        mods += [nn.Linear(in_f, la.out_shape[0], bias=False), sl.IAFSqueeze(batch_size=1)]
        in_f = la.out_shape[0]
    return nn.Sequential(*mods)


SPECS = [
    get_arch("tiny_iaf"),
    # Worked by hand (2x64x64 input): c1 neuron memory 16 * 2^(6+6) = 65,536 (cores 0-2 only);
    # c2 neuron 32 * 2^(5+5) = 32,768 (cores 0-4); c3 kernel 32 * 2^(5+6) = 65,536 (cores 5-6
    # only); c4 kernel 64 * 2^(4+5) = 32,768 and h (8x8 kernel) 32 * 2^(6+4) = 32,768 (cores
    # 3-6); fc 16 * 2^(0+3) = 128 (any core).
    ConvNetSpec("constrained", (64, 64), 4,
                convs=(ConvLayer("c1", 16, 3, padding=1),
                       ConvLayer("c2", 32, 5, stride=2, padding=2),
                       ConvLayer("c3", 64, 5, stride=2, padding=2),
                       ConvLayer("c4", 32, 3, stride=2, padding=1)),
                denses=(DenseLayer("h", 16), DenseLayer("fc", 0)), neuron=IF),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_dynapcnn_memory_and_cores_equal_sinabs(sinabs_dynapcnn, spec):
    DynapcnnNetwork, builder = sinabs_dynapcnn
    net = DynapcnnNetwork(_sinabs_net(spec, 7), input_shape=(2, *spec.input_size),
                          discretize=True)
    summary = net.memory_summary()
    ours = [dynapcnn_memory(la) for la in conv_layers(spec, 2, 7)]
    assert [int(summary["kernel"][i]) for i in range(len(ours))] == \
        [m["kernel_memory"] for m in ours]
    assert [int(summary["neuron"][i]) for i in range(len(ours))] == \
        [m["neuron_memory"] for m in ours]
    cores = builder.map_layers_to_cores(net.dynapcnn_layers)
    result = fit(spec, "speck")
    assert result.verdict == "fits", result.reason
    assert [la.core for la in result.layers] == [cores[i] for i in range(len(ours))]


def test_constrained_assignment_is_forced():
    # Worked by hand from sinabs' memory sizes: c1 (neuron 65,536) fits only cores 0-2; c3
    # (kernel 65,536) only cores 5-6; so the matching must put c1 in 0..2 and c3 in 5..6.
    result = fit(SPECS[1], "speck")
    cores = {la.layer: la.core for la in result.layers}
    assert cores["c1"] in (0, 1, 2) and cores["c3"] in (5, 6)
    assert len(set(cores.values())) == len(cores)


def test_tiny_iaf_memory_by_hand():
    # tiny_iaf, K = 7: conv1 2*2^(5+4), 16*2^(5+5); conv2 16*2^(4+5), 32*2^(4+4);
    # conv3 32*2^(4+5), 32*2^(3+3); fc (6x6 kernel) 32*2^(6+3), 7*2^0.
    mem = [dynapcnn_memory(la) for la in conv_layers(get_arch("tiny_iaf"), 2, 7)]
    assert [(m["kernel_memory"], m["neuron_memory"]) for m in mem] == [
        (1024, 16384), (8192, 8192), (16384, 2048), (16384, 7)]


def test_a_29x29_kernel_does_not_fit_and_names_the_limit():
    # 2 -> 64 channels, 29x29 kernel: 2 * 2^(ceil(log2 841) + log2 64) = 2 * 2^16 = 131,072
    # words; the largest core has 64 * 1024 = 65,536.
    spec = ConvNetSpec("big", (32, 32), 4, convs=(ConvLayer("wide", 64, 29, padding=14),),
                       denses=(DenseLayer("fc", 0),), neuron=IF)
    result = fit(spec, "speck")
    assert result.verdict == "does_not_fit"
    assert "layer wide" in result.reason and "131,072" in result.reason
    assert "65,536" in result.reason


def test_verdicts_of_the_suite_archs():
    tiny_s, tiny_l = fit("tiny", "speck"), fit("tiny", "loihi2")
    assert tiny_s.verdict == tiny_l.verdict == "does_not_fit"
    assert "max pooling" in tiny_s.reason and "'lif' is not IAF" in tiny_s.reason
    assert "max pooling" in tiny_l.reason and "batch norm" in tiny_l.reason
    assert fit("tiny_iaf", "speck").chips == 1
    assert fit("tiny_nir", "speck").verdict == "does_not_fit"
    nir_l = fit("tiny_nir", "loihi2")
    # Loihi 2's per-core limits have no source: never "fits".
    assert nir_l.verdict == "unknown" and nir_l.chips_at_least == 1
    assert "neurons_per_core" in nir_l.reason
    # neurons of tiny_nir, K = 7: 16*24*24 + 32*12*12 + 32*6*6 + 7 = 14,983
    assert sum(la.needs["neurons"] for la in nir_l.layers) == 14983
    assert fit("sew_resnet18", "speck").verdict == "does_not_fit"
    assert fit("seen", "loihi2").verdict == "does_not_fit"


def test_loihi2_precision_equals_lava_dl():
    import torch

    from backends.adapters.lava_dl import import_slayer
    from backends.base import BackendUnavailableError

    try:
        cuba = import_slayer().neuron.cuba
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))

    t = get_target("loihi2")
    n = cuba.Neuron(threshold=0.25, current_decay=1.0, voltage_decay=0.5)
    assert t.value("precision.weight_scale") == n.w_scale
    assert t.value("precision.state_scale") == n.s_scale
    assert 2 ** t.value("precision.decay_bits") == n.p_scale
    levels = torch.unique(n.quantize_8bit(torch.linspace(-10, 10, 20001), descale=True))
    assert len(levels) == 2 ** t.value("precision.weight_bits")


def test_speck_values_equal_sinabs(sinabs_dynapcnn):
    from sinabs.backend.dynapcnn import discretize
    from sinabs.backend.dynapcnn.chips.dynapcnn import DynapcnnConfigBuilder

    t = get_target("speck")
    cons = DynapcnnConfigBuilder.get_constraints()
    assert t.value("limits.cores") == len(cons)
    assert t.value("limits.kernel_memory") == [c.kernel_memory for c in cons]
    assert t.value("limits.neuron_memory") == [c.neuron_memory for c in cons]
    assert t.value("limits.bias_memory") == [c.bias_memory for c in cons]
    assert t.value("precision.weight_bits") == discretize.DYNAPCNN_WEIGHT_PRECISION_BITS
    assert t.value("precision.state_bits") == discretize.DYNAPCNN_STATE_PRECISION_BITS


def test_every_value_has_a_source():
    for name in target_names():
        t = get_target(name)
        assert t.fields and all(f.source for f in t.fields.values())


def test_unknown_target_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'loihi2'"):
        get_target("loihi")


@pytest.mark.parametrize(("edit", "message"), [
    (('value = 9\nsource = "x"', 'value = 9\nsource = ""'), "field 'limits.cores': value 9 has no source"),
    (('[limits.cores]\nvalue = 9\nsource = "x"\n', ""), "field 'limits.cores': missing"),
    (('name = "speck"', 'name = "dynap"'), "differs from the file name"),
    (('[limits.cores]\nvalue = 9\n', '[limits.cores]\nvalue = true\n'), "is not a number"),
])
def test_malformed_target_files_are_refused(tmp_path, edit, message):
    text = (
        'name = "speck"\ntitle = "t"\nfamily = "dynapcnn"\n'
        + "".join(f'[{k}]\nvalue = {v}\nsource = "x"\n' for k, v in (
            ("precision.weight_bits", 8), ("precision.state_bits", 16),
            ("neuron.model", '"iaf"'), ("limits.cores", 9), ("limits.kernel_memory", "[1]"),
            ("limits.neuron_memory", "[1]"), ("limits.bias_memory", "[1]"),
            ("limits.input_channels", 2))))
    assert load_target(_write(tmp_path, text)).value("limits.cores") == 9
    old, new = edit
    assert old in text
    with pytest.raises(TargetFileError, match=message) as info:
        load_target(_write(tmp_path, text.replace(old, new, 1)))
    assert "\n" not in str(info.value) and "speck.toml" in str(info.value)


def _write(tmp_path, text):
    path = tmp_path / "speck.toml"
    path.write_text(text)
    return path
