"""Native models: ``backends.register_model``, plugin files, the checks before training, the grid's
pairing, and a native model through a whole cell (records, checkpoint, validate, reports)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import run_bench
from backends.native.backend import NativeBackend, NativeModelError
from backends.native.card import ModelCard, ModelCardError, PluginError, load_plugin

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "my_model.py"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _restore_archs():
    """Each test's registrations are dropped afterwards, so that other test modules listing
    every architecture (contract, NIR) see the suite's own only."""
    from backends.native import card as card_mod
    from backends.specs import ARCHS

    ARCHS.names()  # loaded before the snapshot
    items, modules = dict(ARCHS._items), dict(ARCHS._modules)
    plugins = dict(card_mod._PLUGINS)
    yield
    ARCHS._items.clear()
    ARCHS._items.update(items)
    ARCHS._modules.clear()
    ARCHS._modules.update(modules)
    card_mod._PLUGINS.clear()
    card_mod._PLUGINS.update(plugins)


def _card(factory, **kw) -> ModelCard:
    base = dict(name="t-net", factory=factory, framework="torch", n_time_bins=3,
                input_size=(6, 6), layout="BTCHW", output="per_step", plugin="/x/my_model.py")
    return ModelCard(**{**base, **kw})


class PerStep(nn.Module):
    """(B, T, C, H, W) -> (B, T, K): a linear readout per step."""

    def __init__(self, k: int, c: int) -> None:
        super().__init__()
        self.fc = nn.Linear(c * 36, k)

    def forward(self, x):
        return self.fc(x.flatten(2))


# --------------------------------------------------------------------------------------------
# the card and register_model
# --------------------------------------------------------------------------------------------


def test_register_model_makes_an_architecture_with_its_card():
    from backends import register_model
    from backends.specs import arch_names, get_arch

    @register_model("nm-api-net", framework="torch", n_time_bins=3, input_size=(6, 6),
                    layout="BTCHW", citation="Someone et al., 2024", code_url="https://x.org/c")
    def make(num_classes: int, in_channels: int) -> nn.Module:
        return PerStep(num_classes, in_channels)

    assert "nm-api-net" in arch_names()
    card = get_arch("nm-api-net")
    assert card is make.model_card and card.backend == "ann" and not card.spiking
    rec = card.to_record("2.13")
    assert rec["framework_version"] == "2.13" and rec["loss"] == "cross_entropy"
    assert rec["citation"] == "Someone et al., 2024" and rec["code_url"] == "https://x.org/c"
    json.dumps(rec)  # JSON-serialisable
    with pytest.raises(ValueError, match="already registered"):
        register_model("nm-api-net", framework="torch", n_time_bins=3, input_size=(6, 6))(make)


@pytest.mark.parametrize("field,value,match", [
    ("framework", "tensorflow", "framework must be one of"),
    ("layout", "THWBC", "layout must be one of"),
    ("output", "logits", "output must be one of"),
    ("n_time_bins", 0, "n_time_bins must be an int >= 1"),
    ("input_size", (48,), "input_size must be a pair"),
    ("inputs", ("frames",), "inputs must be one of"),
])
def test_bad_card_fields_are_named(field, value, match):
    from backends import register_model

    kw = dict(framework="torch", n_time_bins=3, input_size=(6, 6))
    kw[field] = value
    with pytest.raises(ModelCardError, match=match) as info:
        register_model(f"nm-bad-{field}", **kw)(lambda k, c: PerStep(k, c))
    assert f"nm-bad-{field}" in str(info.value) and repr(value) in str(info.value)


def test_a_module_registered_as_a_spec_is_a_clear_error_not_an_attribute_error():
    from backends.specs import NotASpecError, get_arch, register_arch

    @register_arch("nm-sequential-as-spec")
    def net():
        return nn.Sequential(nn.Linear(2, 2))

    with pytest.raises(NotASpecError, match="register_model"):
        get_arch("nm-sequential-as-spec")


# --------------------------------------------------------------------------------------------
# plugin files
# --------------------------------------------------------------------------------------------


def _plugin(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def test_plugin_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(PluginError, match="nope.py: no such file"):
        load_plugin(missing)
    broken = _plugin(tmp_path, "broken.py", "import not_a_module_anywhere\n")
    with pytest.raises(PluginError, match=r"broken.py fails to import: ModuleNotFoundError"):
        load_plugin(broken)
    empty = _plugin(tmp_path, "empty.py", "X = 1\n")
    with pytest.raises(PluginError, match="empty.py registers nothing"):
        load_plugin(empty)
    taken = _plugin(tmp_path, "taken.py", """
        from backends import register_model
        @register_model("tiny", framework="torch", n_time_bins=8, input_size=(48, 48))
        def f(k, c):
            return None
        """)
    with pytest.raises(PluginError, match=r"taken.py: model 'tiny' cannot be registered: the "
                                          r"name is already taken"):
        load_plugin(taken)


def test_cli_plugin_errors_exit_2(tmp_path, capsys):
    broken = _plugin(tmp_path, "broken2.py", "raise RuntimeError('boom')\n")
    assert run_bench.main(["list", "--plugin", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "broken2.py fails to import: RuntimeError: boom" in err
    assert run_bench.main(["run", "--plugin", str(tmp_path / "absent.py"), "--archs", "tiny",
                           "--out", str(tmp_path / "r"), "-q"]) == 2
    assert "absent.py: no such file" in capsys.readouterr().err


def test_list_plugin_shows_the_native_model(tmp_path, capsys):
    p = _plugin(tmp_path, "listed.py", """
        from backends import register_model
        @register_model("nm-listed", framework="torch", n_time_bins=3, input_size=(6, 6),
                        citation="Doe, 2025")
        def f(k, c):
            return None
        """)
    assert run_bench.main(["list", "--plugin", str(p)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "nm-listed" in ln)
    assert "native torch model" in line and "listed.py" in line and "Doe, 2025" in line


# --------------------------------------------------------------------------------------------
# bad input before any training
# --------------------------------------------------------------------------------------------


def test_factory_that_raises():
    def factory(k, c):
        raise RuntimeError("no weights here")

    card = _card(factory)
    with pytest.raises(NativeModelError) as info:
        NativeBackend(card).build(card, (3, 2, 6, 6), 7)
    msg = str(info.value)
    assert "'t-net'" in msg and "/x/my_model.py" in msg and "no weights here" in msg


def test_factory_returning_no_module():
    card = _card(lambda k, c: "a string")
    with pytest.raises(NativeModelError, match="must return a torch.nn.Module, got str"):
        NativeBackend(card).build(card, (3, 2, 6, 6), 7)


def test_wrong_output_shape_for_the_declared_output():
    card = _card(lambda k, c: PerStep(k, c), output="final")  # returns (B, T, K), not (B, K)
    with pytest.raises(NativeModelError) as info:
        NativeBackend(card).build(card, (3, 2, 6, 6), 7)
    msg = str(info.value)
    assert "(2, 3, 7)" in msg and "output='final'" in msg and "expected (2, 7)" in msg
    assert "/x/my_model.py" in msg


class TimeFirst(PerStep):
    """Returns its per-step logits time-first whatever its input's layout."""

    def forward(self, x):
        return super().forward(x).transpose(0, 1)


def test_a_tuple_output_is_named():
    class Pair(PerStep):
        def forward(self, x):
            h = super().forward(x)
            return h, h

    card = _card(lambda k, c: Pair(k, c))
    with pytest.raises(NativeModelError, match=r"must return one tensor \(per_step output, "
                                               r"shape \(2, 3, 7\)\), got tuple"):
        NativeBackend(card).build(card, (3, 2, 6, 6), 7)


def test_wrong_time_order_is_caught():
    card = _card(lambda k, c: TimeFirst(k, c))  # BTCHW in, (T, B, K) out: not the input's order
    with pytest.raises(NativeModelError, match=r"\(3, 2, 7\) does not fit .*expected \(2, 3, 7\)"):
        NativeBackend(card).build(card, (3, 2, 6, 6), 7)


class Leaky(nn.Module):
    """A model that keeps its state in a plain tensor attribute: no framework reset clears it."""

    def __init__(self, k: int, c: int) -> None:
        super().__init__()
        self.fc = nn.Linear(c * 36, k)
        self.state = None

    def forward(self, x):
        h = self.fc(x.flatten(2))
        if self.state is not None:
            h = h + self.state
        self.state = h[:, -1:].detach().mean(0, keepdim=True)
        return h


def test_state_leaking_between_batches():
    card = _card(lambda k, c: Leaky(k, c))
    with pytest.raises(NativeModelError) as info:
        NativeBackend(card).build(card, (3, 2, 6, 6), 7)
    msg = str(info.value)
    assert "state leaks from one batch into the next" in msg and "reset=callable" in msg
    # the card's own reset fixes it
    fixed = _card(lambda k, c: Leaky(k, c), reset=lambda net: setattr(net, "state", None))
    NativeBackend(fixed).build(fixed, (3, 2, 6, 6), 7)


def test_dropout_does_not_count_as_a_leak():
    def factory(k, c):
        return nn.Sequential(nn.Dropout(0.5), PerStep(k, c))

    card = _card(factory)
    NativeBackend(card).build(card, (3, 2, 6, 6), 7)  # eval() mode: no error


def test_spikingjelly_default_reset_clears_state():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron

    def factory(k, c):  # the potential left after a batch changes the next batch's spikes
        return nn.Sequential(layer.Flatten(start_dim=2, step_mode="s"),
                             neuron.LIFNode(tau=2.0, v_threshold=0.8, step_mode="m"),
                             nn.Linear(c * 36, k))

    card = _card(factory, framework="spikingjelly", layout="TBCHW")
    NativeBackend(card).build(card, (3, 2, 6, 6), 7)  # would leak without reset_net


def test_rates_output_and_mse_loss():
    card = _card(lambda k, c: PerStep(k, c), output="rates")
    be = NativeBackend(card)
    model = be.build(card, (3, 2, 6, 6), 4)
    x = torch.rand(2, 3, 2, 6, 6, generator=torch.Generator().manual_seed(0))
    out = be.forward(model, x)
    per_step = model.net(x)
    assert torch.allclose(out.logits, per_step.mean(1))  # rates: mean over time
    y = torch.tensor([0, 3])
    expected = ((out.logits - torch.nn.functional.one_hot(y, 4).float()) ** 2).mean()
    assert torch.allclose(be.loss(out, y), expected)


# --------------------------------------------------------------------------------------------
# the grid pairs a native model with its framework's backend
# --------------------------------------------------------------------------------------------


def test_grid_pairs_native_models_with_their_framework(tmp_path):
    from benchmarks.runner.grid import Grid

    p = _plugin(tmp_path, "paired.py", """
        from backends import register_model
        @register_model("nm-paired", framework="spikingjelly", n_time_bins=3, input_size=(6, 6))
        def f(k, c):
            return None
        """)
    grid = Grid(datasets=("synthetic-fer-dvs-mini",), backends=("ann", "snntorch"),
                archs=("tiny", "nm-paired"), plugins=(str(p),), run_backends=("norse",))
    cells = grid.cells()
    native = [c for c in cells if c.arch == "nm-paired"]
    assert [(c.backend, c.run_backend) for c in native] == [("spikingjelly", None)]
    assert all(c.plugins == (str(p.resolve()),) for c in cells)
    assert {c.backend for c in cells if c.arch == "tiny"} == {"ann", "snntorch"}
    # the plugin path is part of the cell spec, not of its id
    assert "paired.py" not in native[0].cell_id


# --------------------------------------------------------------------------------------------
# the documented example, as written, through a whole run
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_documented_example_runs_as_written(tmp_path, capsys):
    from benchmarks.results.records import read_records
    from benchmarks.runner.checkpoints import load_checkpoint

    out = tmp_path / "run"
    args = ["run", "--plugin", str(EXAMPLE), "--archs", "plif-net", "--datasets",
            "synthetic-fer-dvs-mini", "--epochs", "1", "--data-root", str(tmp_path / "data"),
            "--out", str(out), "-q"]
    assert run_bench.main(args) == 0
    printed = capsys.readouterr().out
    assert "1 cells run" in printed
    assert "spikingjelly 2.0.0 / plif-net (Fang et al., ICCV 2021)" in printed  # leaderboard row
    assert "## Models" in printed
    (rec,) = read_records(out)
    assert rec["status"] == "ok" and rec["cell"]["backend"] == "spikingjelly"
    card = rec["model"]
    assert card["name"] == "plif-net" and card["framework"] == "spikingjelly"
    assert card["framework_version"] == rec["provenance"]["backend_versions"]["spikingjelly"]
    assert card["citation"] == "Fang et al., ICCV 2021" and card["plugin"] == str(EXAMPLE)
    m = rec["metrics"]
    assert m["synops_per_sample"] > 0 and m["spikes_per_sample"] > 0
    # two PLIF layers, membrane kept per step: 16x48x48 + 32x24x24 neurons x 8 steps at most
    assert 0 < m["membrane_updates_per_sample"] <= (16 * 48 * 48 + 32 * 24 * 24) * 8
    assert m["neuron_modules"] == {"2": "ParametricLIFNode", "6": "ParametricLIFNode"}
    assert m["neuron_ops_per_sample"] is None and "2 (neuron ops)" in m["unmeasured"]
    assert m["accuracy_per_step"] is not None and len(m["accuracy_per_step"]) == 8
    # the checkpoint reloads through the factory (a fresh process imports the cell's plugin
    # path first) into a native model that runs
    loaded = load_checkpoint(out / rec["checkpoint"])
    assert list(loaded.checkpoint["cell"]["plugins"]) == [str(EXAMPLE)]
    x = torch.zeros(1, 8, 2, 48, 48)
    assert loaded.backend.forward(loaded.model, x).logits.shape == (1, 7)
    assert run_bench.main(["validate", str(out)]) == 0
    # predict on a recording: windows binned as the card says, one class each
    import numpy as np

    from benchmarks.runner.predict import predict_recording
    from datasets.io.events import make_events, write_v2e_h5

    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 1_000_000, 4000))
    t[0], t[-1] = 0, 1_000_000  # windows [0, 500) and [500, 1000) ms
    ev = make_events(t, rng.integers(0, 64, t.size), rng.integers(0, 64, t.size),
                     rng.integers(0, 2, t.size))
    preds = predict_recording(loaded, write_v2e_h5(tmp_path / "clip.h5", ev), window_ms=500,
                              stride_ms=500)
    assert len(preds) == 2 and all(p.label in loaded.classes for p in preds)


# --------------------------------------------------------------------------------------------
# NIR export through the framework's own writer, or refused with the reason
# --------------------------------------------------------------------------------------------


class SnnLoop(nn.Module):
    """A snntorch network looping over time; its per-step part is ``nir_module``."""

    def __init__(self, k: int, c: int) -> None:
        super().__init__()
        import snntorch as snn

        self.nir_module = nn.Sequential(
            nn.Conv2d(c, 4, 3, padding=1),
            snn.Leaky(beta=torch.full((4, 6, 6), 0.5), threshold=torch.full((4, 6, 6), 1.0),
                      init_hidden=True),
            nn.Flatten(), nn.Linear(4 * 36, k))

    def forward(self, x):  # (T, B, C, H, W) -> (T, B, K)
        return torch.stack([self.nir_module(x[t]) for t in range(x.shape[0])])


def _sj_net(k, c):
    from spikingjelly.activation_based import layer, neuron

    return nn.Sequential(layer.Conv2d(c, 4, 3, padding=1, step_mode="m"),
                         neuron.LIFNode(v_reset=0.0, decay_input=False, step_mode="m"),
                         layer.Flatten(step_mode="m"), layer.Linear(4 * 36, k, step_mode="m"))


@pytest.mark.parametrize("framework,factory", [("snntorch", SnnLoop), ("spikingjelly", _sj_net)])
def test_nir_export_of_a_native_model(tmp_path, framework, factory):
    pytest.importorskip(framework)
    nir = pytest.importorskip("nir")
    from backends.native.export import export_native_nir

    card = _card(factory, framework=framework, layout="TBCHW")
    model = NativeBackend(card).build(card, (3, 2, 6, 6), 7)
    path = export_native_nir(model, tmp_path / "m.nir")
    graph = nir.read(str(path))
    kinds = sorted(type(n).__name__ for n in graph.nodes.values())
    assert "Conv2d" in kinds and "Affine" in kinds and "LIF" in kinds


@pytest.mark.parametrize("framework,reason", [("torch", "not spiking"),
                                              ("norse", "no mapping for torch.nn.Flatten"),
                                              ("lava-dl", "has no NIR writer")])
def test_nir_export_refused_with_the_reason(framework, reason):
    from backends.native.backend import NativeModel
    from backends.native.export import export_native_nir
    from backends.nir_exchange import NIRExportError

    card = _card(lambda k, c: PerStep(k, c), framework=framework)
    model = NativeModel(card, PerStep(7, 2), (3, 2, 6, 6), 7)
    with pytest.raises(NIRExportError, match=reason):
        export_native_nir(model, "unused.nir")


def test_snntorch_loop_without_nir_module_names_the_fix(tmp_path):
    pytest.importorskip("snntorch")
    from backends.native.export import export_native_nir
    from backends.nir_exchange import NIRExportError

    class Bare(SnnLoop):
        def __init__(self, k, c):
            super().__init__(k, c)
            self.body = self.nir_module
            del self.nir_module

        def forward(self, x):
            return torch.stack([self.body(x[t]) for t in range(x.shape[0])])

    card = _card(Bare, framework="snntorch", layout="TBCHW")
    model = NativeBackend(card).build(card, (3, 2, 6, 6), 7)
    with pytest.raises(NIRExportError, match="nir_module"):
        export_native_nir(model, tmp_path / "m.nir")


# --------------------------------------------------------------------------------------------
# a bad model is an error record; the rest of the grid runs
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_bad_native_model_is_an_error_record_while_the_grid_goes_on(tmp_path, capsys):
    from benchmarks.results.records import read_records

    p = _plugin(tmp_path, "two_models.py", """
        import torch
        from torch import nn
        from backends import register_model

        class PerStep(nn.Module):
            def __init__(self, k, c):
                super().__init__()
                self.fc = nn.Linear(c * 16 * 16, k)
            def forward(self, x):
                return self.fc(x.flatten(2))

        @register_model("nm-good", framework="torch", n_time_bins=2, input_size=(16, 16),
                        layout="BTCHW")
        def good(num_classes, in_channels):
            return PerStep(num_classes, in_channels)

        class Final(PerStep):
            def forward(self, x):
                return super().forward(x).mean(1)

        @register_model("nm-final", framework="torch", n_time_bins=2, input_size=(16, 16),
                        layout="BTCHW", output="final")
        def final(num_classes, in_channels):
            return Final(num_classes, in_channels)

        @register_model("nm-final-but-per-step", framework="torch", n_time_bins=2,
                        input_size=(16, 16), layout="BTCHW", output="final")
        def bad(num_classes, in_channels):
            return PerStep(num_classes, in_channels)
        """)
    out = tmp_path / "run"
    code = run_bench.main(["run", "--plugin", str(p), "--archs", "nm-final-but-per-step",
                           "nm-good", "nm-final", "--datasets", "synthetic-fer-dvs-mini", "--epochs", "1",
                           "--data-root", str(tmp_path / "data"), "--out", str(out), "-q"])
    assert code == 0
    recs = {r["cell"]["arch"]: r for r in read_records(out)}
    assert recs["nm-good"]["status"] == "ok" and recs["nm-good"]["cell"]["backend"] == "ann"
    bad = recs["nm-final-but-per-step"]
    assert bad["status"] == "error"
    assert "two_models.py" in bad["error"] and "output='final'" in bad["error"]
    assert bad["history"] in (None, [])  # failed before any training
    final = recs["nm-final"]["metrics"]  # no per-step readout: skipped, with the reason
    assert final["accuracy_per_step"] is None
    assert final["per_step_readout"].startswith("skipped: model 'nm-final' declares "
                                                "output='final'")
    assert recs["nm-good"]["metrics"].get("per_step_readout") is None


# --------------------------------------------------------------------------------------------
# reports: a native model is a row with its framework, version and citation; the page links code
# --------------------------------------------------------------------------------------------


def _native_record(name, code_url):
    return {"kind": "trained", "cell": {"backend": "spikingjelly", "arch": name},
            "model": {"name": name, "framework": "spikingjelly", "framework_version": "2.0.0",
                      "citation": "Fang et al., ICCV 2021", "code_url": code_url,
                      "licence": "MPL-2.0", "notes": "2 channels"}}


def test_leaderboard_row_and_models_table():
    from reports.leaderboard import models_table, row_label

    rec = _native_record("plif-net", "https://github.com/fangwei123456/spikingjelly")
    assert row_label(rec) == "spikingjelly 2.0.0 / plif-net (Fang et al., ICCV 2021)"
    assert row_label({"kind": "trained", "cell": {"backend": "ann", "arch": "tiny"},
                      "model": None}) == "ann / tiny"
    table = models_table([rec, rec])
    lines = [ln for ln in table.splitlines() if "plif-net" in ln]
    assert len(lines) == 1  # one row per model
    assert "spikingjelly 2.0.0" in lines[0] and "<https://github.com/fangwei123456/spikingjelly>" \
        in lines[0] and "MPL-2.0" in lines[0]
    assert models_table([{"kind": "trained", "cell": {}, "model": None}]) == ""


def test_web_page_links_the_code_url_and_never_a_script_url():
    from reports.html import _models_html

    page = _models_html([_native_record("plif-net", "https://example.org/plif"),
                         _native_record("evil", "javascript:alert(1)")])
    assert '<a href="https://example.org/plif" rel="noopener">plif-net</a>' in page
    assert "javascript:" not in page and "<td class=\"text\">evil</td>" in page


def test_the_guide_shows_the_example_file_verbatim():
    guide = (ROOT / "docs" / "guides" / "your-model.md").read_text()
    block = guide.split("```python\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE.read_text()


@pytest.mark.slow
def test_plugin_reaches_worker_processes(tmp_path):
    """Local workers are spawned processes: they import the plugin from the cell's path."""
    from benchmarks.results.records import read_records

    p = _plugin(tmp_path, "worker_model.py", """
        import os
        from torch import nn
        from backends import register_model

        class PerStep(nn.Module):
            def __init__(self, k, c):
                super().__init__()
                self.fc = nn.Linear(c * 16 * 16, k)
                self.pid = os.getpid()
            def forward(self, x):
                return self.fc(x.flatten(2))

        @register_model("nm-worker", framework="torch", n_time_bins=2, input_size=(16, 16),
                        layout="BTCHW", notes=f"registered in process {os.getpid()}")
        def make(num_classes, in_channels):
            return PerStep(num_classes, in_channels)
        """)
    out = tmp_path / "run"
    assert run_bench.main(["run", "--plugin", str(p), "--archs", "nm-worker", "--datasets",
                           "synthetic-fer-dvs-mini", "--epochs", "1", "--workers", "2",
                           "--data-root", str(tmp_path / "data"), "--out", str(out), "-q"]) == 0
    (rec,) = read_records(out)
    assert rec["status"] == "ok", rec.get("error")
    import os

    # the card in the record was registered by the worker, not by this process
    assert rec["model"]["notes"] != f"registered in process {os.getpid()}"


FOUR_FRAMEWORKS = 'import torch\nfrom torch import nn\nfrom backends import register_model\n\n\n@register_model("nm-snn", framework="snntorch", n_time_bins=4, input_size=(16, 16), layout="TBCHW")\ndef snn_net(k, c):\n    import snntorch as snn\n\n    class Net(nn.Module):\n        def __init__(self):\n            super().__init__()\n            self.conv = nn.Conv2d(c, 8, 3, padding=1)\n            self.lif = snn.Leaky(beta=0.5, init_hidden=True)\n            self.fc = nn.Linear(8 * 16 * 16, k)\n\n        def forward(self, x):\n            return torch.stack([self.fc(self.lif(self.conv(x[t])).flatten(1)) for t in range(x.shape[0])])\n    return Net()\n\n\n@register_model("nm-sinabs", framework="sinabs", n_time_bins=4, input_size=(16, 16), layout="BTCHW")\ndef sinabs_net(k, c):\n    import sinabs.layers as sl\n\n    class Net(nn.Module):\n        def __init__(self):\n            super().__init__()\n            self.conv = nn.Conv2d(c, 8, 3, padding=1)\n            self.iaf = sl.IAFSqueeze(batch_size=None, num_timesteps=4, record_states=True)  # MultiSpike\n            self.fc = nn.Linear(8 * 16 * 16, k)\n\n        def forward(self, x):\n            b, t = x.shape[:2]\n            h = self.iaf(self.conv(x.flatten(0, 1)))\n            return self.fc(h.flatten(1)).view(b, t, -1)\n    return Net()\n\n\n@register_model("nm-norse", framework="norse", n_time_bins=4, input_size=(16, 16), layout="TBCHW")\ndef norse_net(k, c):\n    import norse.torch as nt\n\n    class Net(nn.Module):\n        def __init__(self):\n            super().__init__()\n            self.conv = nn.Conv2d(c, 8, 3, padding=1)\n            self.lif = nt.LIFCell()\n            self.fc = nn.Linear(8 * 16 * 16, k)\n\n        def forward(self, x):\n            s, out = None, []\n            for t in range(x.shape[0]):\n                z, s = self.lif(self.conv(x[t]) * 10, s)\n                out.append(self.fc(z.flatten(1)))\n            return torch.stack(out)\n    return Net()\n\n\n@register_model("nm-lava", framework="lava-dl", n_time_bins=4, input_size=(16, 16), layout="BCHWT")\ndef lava_net(k, c):\n    from backends.adapters.lava_dl import import_slayer\n    slayer = import_slayer()\n    p = {"threshold": 1.0, "current_decay": 0.5, "voltage_decay": 0.5}\n\n    class Net(nn.Module):\n        def __init__(self):\n            super().__init__()\n            self.conv = slayer.block.cuba.Conv(p, c, 8, 3, padding=1, weight_norm=False)\n            self.fc = slayer.synapse.Dense(8 * 16 * 16, k)\n\n        def forward(self, x):\n            h = self.conv(x)  # (B, 8, 16, 16, T)\n            return self.fc(h.flatten(1, 3))  # (B, K, T)\n    return Net()\n'


@pytest.mark.slow
def test_a_native_model_in_each_framework_runs_a_cell(tmp_path):
    """snntorch (time-major, hidden state), sinabs (batch-major, squeezed time, recorded
    states, sinabs' default multi-spike output), norse (a cell looped over time), lava-dl
    (time-last blocks and synapses): one cell each, measured, in one grid; each checkpoint
    reloads at any batch size for the run's robustness sweep and early decision."""
    from benchmarks.results.records import read_records

    p = _plugin(tmp_path, "four.py", FOUR_FRAMEWORKS)
    out = tmp_path / "run"
    assert run_bench.main(["run", "--plugin", str(p), "--archs", "nm-snn", "nm-sinabs",
                           "nm-norse", "nm-lava", "--datasets", "synthetic-fer-dvs-mini",
                           "--epochs", "1", "--data-root", str(tmp_path / "data"),
                           "--out", str(out), "-q"]) == 0
    recs = {r["cell"]["arch"]: r for r in read_records(out)}
    assert {a: r["status"] for a, r in recs.items()} == dict.fromkeys(
        ["nm-snn", "nm-sinabs", "nm-norse", "nm-lava"], "ok")
    assert {a: r["cell"]["backend"] for a, r in recs.items()} == {
        "nm-snn": "snntorch", "nm-sinabs": "sinabs", "nm-norse": "norse", "nm-lava": "lava-dl"}
    dense = 8 * 16 * 16 * 4  # one neuron layer: 8 x 16 x 16 neurons x 4 steps
    for a, r in recs.items():
        m = r["metrics"]
        assert m["synops_per_sample"] > 0 and m["spikes_per_sample"] > 0, a
        assert m["non_binary_neurons"] == {}, a
        assert r["model"]["framework_version"] == r["provenance"]["backend_versions"][
            r["model"]["framework"]], a
        if a == "nm-lava":  # lava-dl's potential is not observable: null and listed
            assert m["membrane_updates_per_sample"] is None
            assert "conv.neuron (membrane)" in m["unmeasured"]
        else:
            assert 0 < m["membrane_updates_per_sample"] <= dense, a
    assert recs["nm-snn"]["metrics"]["neuron_ops_per_sample"] == \
        4 * recs["nm-snn"]["metrics"]["membrane_updates_per_sample"]  # Leaky: 4 per update
    # the run's own robustness sweep and early decision reload every checkpoint
    rob = [json.loads(ln) for ln in (out / "robustness" / "results.jsonl").read_text().splitlines()]
    assert {r["cell"]["arch"] for r in rob} == set(recs)
    assert [(r["cell"]["arch"], r.get("error")) for r in rob if r["status"] != "ok"] == []
    early = json.loads((out / "robustness" / "early_decision.json").read_text())
    assert sorted(e["model"] for e in early) == sorted(
        f"{r['cell']['backend']}/{a}" for a, r in recs.items())
    assert [e["skipped"] for e in early if "skipped" in e] == []
    _reload_at_any_batch_size(out, recs)


def _reload_at_any_batch_size(out: Path, recs: dict) -> None:
    """Each checkpoint reloads and gives every sample the same logits at batch sizes 1, 2 and the
    training batch size; sinabs' neuron state (``v_mem``, shaped by the batch) is saved empty, an
    older file holding the last training batch's state still loads, and a weight that does not
    fit is still an error."""
    from benchmarks.runner.checkpoints import CheckpointError, load_checkpoint

    for a, r in recs.items():
        loaded = load_checkpoint(out / r["checkpoint"])
        train_bs = int(r["cell"]["recipe"]["batch_size"])
        assert train_bs > 2, a
        gen = torch.Generator().manual_seed(1)
        x = torch.poisson(torch.full((train_bs, *loaded.input_shape), 0.3), generator=gen)
        with torch.no_grad():
            full = loaded.backend.forward(loaded.model, x).logits
            for b in (1, 2, train_bs):
                part = loaded.backend.forward(loaded.model, x[:b]).logits
                assert torch.allclose(part, full[:b], rtol=1e-5, atol=1e-5), (a, b)
    sinabs_path = next((out / "checkpoints").glob("*__nm-sinabs__*.pt"))
    ckpt = torch.load(sinabs_path, weights_only=True)
    assert tuple(ckpt["state_dict"]["net.iaf.v_mem"].shape) == (0,)
    older = out / "older.pt"  # as written before the state was saved empty
    ckpt["state_dict"]["net.iaf.v_mem"] = torch.ones(32, 8, 16, 16)
    torch.save(ckpt, older)
    again = load_checkpoint(older)
    with torch.no_grad():
        assert again.backend.forward(again.model, torch.zeros(3, 4, 2, 16, 16)).logits.shape == (3, 7)
    ckpt["state_dict"]["net.fc.weight"] = torch.ones(7, 100)
    torch.save(ckpt, older)
    with pytest.raises(CheckpointError, match=r"size mismatch for net.fc.weight"):
        load_checkpoint(older)
