"""Tests of the frameworks' own model zoos registered as native models (backends/native/zoo/).

Expected values are worked out by hand in the comments (parameter counts, output shapes, the
values firing rates can take), or come from the suite's own compiled ``sew_resnet18``
(backends/adapters/spikingjelly_backend.py), a different implementation of the same network.
"""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch

pytest.importorskip("spikingjelly.activation_based")

from backends.native.card import ModelCard  # noqa: E402
from backends.native.zoo import ZOO, register_ci, zoo_names  # noqa: E402
from backends.specs import get_arch  # noqa: E402

K = 7
CI_SIZE = (32, 32)

# zoo name -> (parameters at K = 7 with 2 input channels and the CI size 32x32, how counted)
EXPECTED_PARAMS = {
    # torchvision's resnet18 11,689,512 - 3*64*49 (stem) + 2*64*49 - 513,000 (fc 512x1000+1000)
    # + 512*7 (bias-free Spiking-FER head) = 11,176,960 (the suite's spec gives the same)
    "sj_sew_resnet18": 11_176_960,
    # VGG-11-BN features with a 2-channel stem: convs 2*64*9+64 + 64*128*9+128 + 128*256*9+256
    # + 256*256*9+256 + 256*512*9+512 + 3*(512*512*9+512) = 9,219,904; BN 2*(64+128+256+256+512
    # +3*512) = 5,504; head 512*7+7 = 3,591 -> 9,228,999
    "sj_spiking_vgg11_bn": 9_228_999,
    # 5 x (conv3x3 no bias + BN): 2*128*9 + 4*128*128*9 = 592,128, BN 5*256 = 1,280; PLIF taus
    # 5 + 2 = 7 (one w per node); fc 128*1*1*512+512 = 66,048 (32 // 32 = 1); 512*70+70 = 35,910
    # -> 695,373
    "sj_plif_dvsgesture": 695_373,
    # 4 stages: 2*128*9 + 3*128*128*9 = 444,672, BN 1,024, taus 4 + 2 = 6; fc 128*2*2*512+512 =
    # 262,656; 35,910 -> 744,268
    "sj_plif_cifar10dvs": 744_268,
}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on the shared 2-core machine torch's threads spin against each other."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_zoo_registers_every_family_as_native_cards():
    names = zoo_names()
    assert set(names) == {
        "sj_sew_resnet18", "sj_spiking_vgg11_bn", "sj_plif_dvsgesture", "sj_plif_cifar10dvs",
        "sj_spikformer", "sj_sdt", "norse_convnet4", "ann_resnet18_lstm",
    }
    for name in names:
        card = get_arch(name)
        assert isinstance(card, ModelCard) and card.name == name
        assert card.citation and card.notes and card.licence
    # the papers' settings
    assert (get_arch("sj_sew_resnet18").n_time_bins, get_arch("sj_sew_resnet18").input_size) == (
        6, (128, 128))
    assert get_arch("sj_sdt").output == "final"
    assert get_arch("sj_plif_dvsgesture").output == "rates"
    assert get_arch("ann_resnet18_lstm").framework == "torch"
    assert get_arch("norse_convnet4").framework == "norse"


def test_register_ci_registers_the_reduced_card_once():
    name = register_ci("sj_spikformer")
    assert name == "sj_spikformer-ci" and register_ci("sj_spikformer") == name
    card, paper = get_arch(name), get_arch("sj_spikformer")
    assert (card.n_time_bins, card.input_size) == (2, CI_SIZE)
    assert dataclasses.replace(card, name=paper.name, factory=paper.factory, notes=paper.notes,
                               n_time_bins=16, input_size=(128, 128)) == paper
    with pytest.raises(KeyError):
        register_ci("tiny")


def _input(card: ModelCard, batch: int = 2) -> torch.Tensor:
    t, (h, w) = card.n_time_bins, card.input_size
    x = torch.poisson(torch.full((t, batch, 2, h, w), 0.5))  # event counts, time-major
    if card.layout == "BTCHW":
        x = x.transpose(0, 1).contiguous()
    return x


@pytest.mark.parametrize("name", zoo_names())
def test_zoo_model_builds_and_runs_at_its_ci_size(name):
    card = get_arch(register_ci(name))
    torch.manual_seed(0)
    model = card.factory(K, 2)
    x = _input(card)
    model.eval()
    with torch.no_grad():
        out = model(x)
    _reset(card, model)
    want = {"per_step": (card.n_time_bins, 2, K), "final": (2, K), "rates": (2, K)}[card.output]
    assert tuple(out.shape) == want
    assert torch.isfinite(out).all()
    if name in EXPECTED_PARAMS:
        assert sum(p.numel() for p in model.parameters()) == EXPECTED_PARAMS[name]
    if card.output == "rates":  # mean over T steps of votes (10 spikes averaged): multiples of
        scaled = out * 10 * card.n_time_bins  # 1 / (10 T) in [0, 1]
        assert torch.equal(scaled, scaled.round()) and out.min() >= 0 and out.max() <= 1


def _reset(card: ModelCard, model: torch.nn.Module) -> None:
    if card.framework == "spikingjelly":
        from spikingjelly.activation_based import functional

        functional.reset_net(model)


def test_zoo_models_are_rebuilt_for_the_input_size():
    # Fang et al.'s nets hard-code the flatten size of 128x128 inputs (DVSGestureNet 128*4*4):
    # rebuilt, the first Linear takes 128 * (48 // 32)^2 = 128 inputs at 48x48
    card = get_arch("sj_plif_dvsgesture")
    model = ZOO["sj_plif_dvsgesture"].build(K, 2, (48, 48), 2)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(128, 512), (512, 70)]
    assert card.input_size == (128, 128)
    paper = ZOO["sj_plif_dvsgesture"].build(K, 2, (128, 128), 2)
    assert [m.in_features for m in paper.modules() if isinstance(m, torch.nn.Linear)][0] == 2048
    with pytest.raises(ValueError, match="too small"):
        ZOO["sj_plif_dvsgesture"].build(K, 2, (16, 16), 2)
    # Spikformer: patch size 4 below 128x128 (12x12 = 144 tokens at 48x48), 16 at 128x128
    from backends.native.zoo.transformers import spikformer_patch_size

    assert spikformer_patch_size((48, 48)) == 4 and spikformer_patch_size((128, 128)) == 16
    # norse's ConvNet4 at 48x48: ((48 - 4) / 2 - 4) / 2 = 9 -> fc1 9*9*64 -> 1024; K-class readout
    net = ZOO["norse_convnet4"].build(K, 2, (48, 48), 2)
    assert net.fc1.in_features == 9 * 9 * 64 and net.out.input_weights.shape == (K, 1024)


def test_spikingjelly_modules_import_without_torchvision():
    from backends.native.zoo import _torchvision_shim as shim
    from backends.native.zoo.sew_resnet import if_neuron

    if shim._torchvision_works():
        pytest.skip("a working torchvision is installed: the stand-in is not used")
    sew = shim.import_model_module("spikingjelly.activation_based.model.sew_resnet")
    vgg = shim.import_model_module("spikingjelly.activation_based.model.spiking_vgg")
    assert "torchvision" not in sys.modules and "torchvision.models.utils" not in sys.modules
    with pytest.raises(shim.PretrainedWeightsUnavailable, match="downloads nothing"):
        sew.sew_resnet18(pretrained=True, cnf="ADD", spiking_neuron=if_neuron)
    with pytest.raises(shim.PretrainedWeightsUnavailable):
        vgg.spiking_vgg11_bn(pretrained=True, spiking_neuron=if_neuron)


# --- one network, two ways: the suite's compiled sew_resnet18 against spikingjelly's own ------


def _suite_to_zoo_key(key: str) -> str:
    """Suite parameter/buffer name -> spikingjelly's (only the stem is named differently)."""
    return key.replace("stem_conv.", "conv1.").replace("stem_bn.", "bn1.")


def _suite_to_zoo_neuron(name: str) -> str:
    """Suite neuron layer (``SJNeuron.node``) -> spikingjelly's neuron module name."""
    return (name.replace("stem_act.node", "sn1").replace("act1.node", "sn1")
            .replace("act2.node", "sn2").replace("downsample_act.node", "downsample_sn"))


def _record_spikes(model: torch.nn.Module, rename) -> dict[str, torch.Tensor]:
    from spikingjelly.activation_based import neuron

    out: dict[str, torch.Tensor] = {}
    for n, mod in model.named_modules():
        if isinstance(mod, neuron.BaseNode):
            mod.register_forward_hook(
                lambda m, i, o, n=n: out.__setitem__(rename(n), o.detach().clone()))
    return out


def _two_sew_resnets(t: int, size: int):
    from backends.base import get_backend
    from backends.native.zoo.sew_resnet import build_sew_resnet18

    backend = get_backend("spikingjelly")
    ok, why = backend.available()
    if not ok:
        pytest.skip(f"spikingjelly unavailable: {why}")
    spec = dataclasses.replace(get_arch("sew_resnet18"), input_size=(size, size), n_time_bins=t)
    torch.manual_seed(0)
    suite = backend.build(spec, (t, 2, size, size), K)
    zoo = build_sew_resnet18(K, 2, (size, size), t)
    state = suite.state_dict()
    with torch.no_grad():  # batch norms away from their identity init, so every layer fires
        for key, v in state.items():
            if key.endswith("weight") and v.dim() == 1:
                v.uniform_(0.5, 1.5)
            elif key.endswith("bias"):
                v.uniform_(-0.2, 0.4)
            elif key.endswith("running_var"):
                v.uniform_(0.5, 2.0)
            elif key.endswith("running_mean"):
                v.uniform_(-0.3, 0.3)
    zoo.load_state_dict({_suite_to_zoo_key(k): v for k, v in state.items()})
    return backend, suite, zoo


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_suite_sew_resnet18_equals_spikingjellys_own(mode):
    """Same weights: identical spikes in each of the 20 neuron layers, identical per-step fc
    outputs and logits, identical gradients (train mode: batch statistics of the T*B frames)."""
    from spikingjelly.activation_based import functional

    from backends.blocks.forward import readout

    t, size = 3, 32
    backend, suite, zoo = _two_sew_resnets(t, size)
    s_spikes = _record_spikes(suite, _suite_to_zoo_neuron)
    z_spikes = _record_spikes(zoo, lambda n: n)
    getattr(suite, mode)()
    getattr(zoo, mode)()
    x = torch.poisson(torch.full((4, t, 2, size, size), 0.7))  # (B, T, 2, H, W) event counts
    out = backend.forward(suite, x)
    functional.reset_net(zoo)
    z = zoo(x.transpose(0, 1).contiguous())  # (T, B, K)
    functional.reset_net(zoo)
    # stem, 8 blocks x 2, 3 downsample neurons = 20 layers
    assert len(z_spikes) == 20 and sorted(s_spikes) == sorted(z_spikes)
    for name, spikes in z_spikes.items():
        assert torch.equal(s_spikes[name], spikes), f"first difference at {name}"
        assert spikes.sum() > 0, f"{name} never fires: the comparison would be empty"
    logits, per_step = readout(z.transpose(0, 1), False)
    assert torch.equal(out.logits, logits) and torch.equal(out.logits_per_step, per_step)
    if mode == "train":
        target = torch.arange(4) % K
        torch.nn.functional.cross_entropy(out.logits, target).backward()
        torch.nn.functional.cross_entropy(logits, target).backward()
        zoo_params = dict(zoo.named_parameters())
        for key, p in suite.named_parameters():
            assert torch.equal(p.grad, zoo_params[_suite_to_zoo_key(key)].grad), key


def test_conv1d_operations_are_counted_by_hand():
    """Spikformer's pointwise Conv1d layers (and any Conv1d) are counted as connections."""
    from backends.activity import connection_ops, connection_shape

    conv = torch.nn.Conv1d(2, 3, kernel_size=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.weight[0, 0, 0] = 0.0  # one zero weight: output channel 0 ignores input channel 0
    x = torch.zeros(1, 2, 4)  # (B, C, L)
    x[0, 0, 1] = x[0, 0, 3] = x[0, 1, 2] = 1.0  # 3 spikes: 2 on channel 0, 1 on channel 1
    eff, dense, spiking = connection_ops(x, conv)
    # each spike reaches 3 outputs through non-zero weights, except channel 0's via the zero
    # weight: 2 * 2 + 1 * 3 = 7 ACs; dense: 3 outputs x 4 positions x 2 inputs = 24
    assert (eff, dense, spiking) == (7, 24, True)
    shape = connection_shape(x, conv)
    assert (shape.kind, shape.in_shape, shape.out_shape, shape.kernel) == (
        "conv", (2, 1, 4), (3, 1, 4), (1, 1))
    conv3 = torch.nn.Conv1d(1, 1, kernel_size=3, stride=2, padding=1, bias=False)
    # L = 5, k = 3, stride 2, padding 1 -> 3 outputs; dense 3 x 3 taps, minus the 2 taps that
    # fall on the padding (first and last output) = 7
    assert connection_ops(torch.ones(1, 1, 5), conv3)[1] == 7


# --- a one-epoch cell of every zoo model at its CI size ------------------------------------------


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory):
    """synthetic-fer-dvs-mini generated once for the cells of this module."""
    return tmp_path_factory.mktemp("zoo-data")


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo_names())
def test_zoo_model_runs_a_one_epoch_cell(name, mini_root):
    from benchmarks.results.spec import Cell, Recipe
    from benchmarks.runner.cell import run_cell

    card = get_arch(register_ci(name))
    recipe = Recipe(epochs=1, batch_size=8, latency_runs=3, warmup_runs=1,
                    throughput_batch_size=8, codecarbon=False)
    cell = Cell(dataset="synthetic-fer-dvs-mini", backend=card.backend, arch=card.name,
                recipe=recipe)
    rec = run_cell(cell, mini_root, progress=False)
    r = rec.to_dict()
    assert r["status"] == "ok", r.get("error")
    assert r["model"]["name"] == card.name and r["model"]["framework"] == card.framework
    m = r["metrics"]
    if name in EXPECTED_PARAMS:
        assert m["params"] == EXPECTED_PARAMS[name]
    assert m["synops_per_sample"] > 0
    assert 0.0 <= m["accuracy"] <= 1.0 and m["n_test"] > 0
    if card.framework == "torch":
        assert m["spikes_per_sample"] == 0  # an ANN: no spiking neuron modules
    else:
        assert m["spikes_per_sample"] > 0
    if card.output == "per_step":  # per-step readout: accuracy after each time bin
        assert len(m["accuracy_per_step"]) == card.n_time_bins
    else:
        assert m["accuracy_per_step"] is None


@pytest.mark.slow
def test_estimate_projects_native_models_under_their_framework(mini_root):
    """``estimate`` measures each native model under its own framework's backend (whatever the
    grid's ``backends`` say) with its card's loss, and projects its hours."""
    from benchmarks.results.spec import Recipe
    from benchmarks.runner.estimate import estimate_grid
    from benchmarks.runner.grid import Grid, load_grid

    names = [register_ci(n) for n in ("sj_plif_cifar10dvs", "norse_convnet4", "ann_resnet18_lstm")]
    grid = Grid(datasets=("synthetic-fer-dvs-mini",), backends=("snntorch",),
                archs=(*names, "tiny"), folds=(0,), seeds=(0,), name="zoo-ci",
                recipe=Recipe(epochs=2, batch_size=2, augment=False))
    rows, report = estimate_grid(grid, device="cpu", data_root=mini_root)
    got = {(r.backend, r.arch) for r in rows}
    assert got == {("spikingjelly", names[0]), ("norse", names[1]), ("ann", names[2]),
                   ("snntorch", "tiny")}
    for r in rows:
        assert r.hours is not None and r.hours > 0 and r.model_rate > 0, (r.arch, r.note)
        assert r.cells == 1 and r.train_samples > 0 and r.train_samples % 2 == 0  # 2 epochs
    assert "sj_plif_cifar10dvs-ci" in report
    # the zoo grid file lists every zoo model at its paper-scale card
    zoo = load_grid("zoo")
    assert set(zoo.archs) == set(zoo_names()) and zoo.recipe.epochs == 500
    assert len(zoo.cells()) == 8 * 4 * 10  # 8 models x 4 datasets x 10 folds, one backend each


def test_model_zoo_guide_lists_every_card():
    """docs/guides/model-zoo.md states each zoo model's card as registered (kept in sync)."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "guides" / "model-zoo.md").read_text()
    for name in zoo_names():
        card, entry = get_arch(name), ZOO[name]
        section = page.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        h, w = card.input_size
        assert f"T = {card.n_time_bins}, {h}x{w}, layout {card.layout}" in section, name
        assert f"output: {card.output}" in section and f"framework: {card.framework}" in section
        ch, cw = entry.ci_input_size
        assert f"CI size (tests): T = {entry.ci_n_time_bins}, {ch}x{cw}" in section, name
        for text in (card.citation, card.licence, card.notes):
            assert text in section, (name, text)
