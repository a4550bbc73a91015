"""Tasks and training methods (benchmarks/runner/methods.py): task heads, the losses of ``standard``,
``baseline`` (FER-Zoo's Baseline) and ``elim`` on small hand-checked cases, the pre-readout
features every backend fills, and a VA / ELIM training run through the real loop.

Expected values are worked out by hand in the comments (or follow from symmetry), never copied
from the code's output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.results.spec import Recipe, RecipeError  # noqa: E402
from benchmarks.runner import methods as MT  # noqa: E402
from benchmarks.runner.methods import (  # noqa: E402
    ElimMethod,
    StepContext,
    TaskTargets,
    check_task_data,
    elim_warmup,
    fer_zoo_va_loss,
    identity_shift,
    pcc_ccc,
    standard_va_loss,
    task_heads,
    task_outputs,
)


def t(x):
    return torch.tensor(x, dtype=torch.float64)


# -- task heads ---------------------------------------------------------------------------------


def test_task_outputs_and_heads():
    assert [task_outputs(k, 7) for k in ("classification", "va_regression", "multitask")] == [7, 2, 9]
    logits = t([[1.0, 2.0, 3.0, 0.0, math.atanh(0.5)]])  # K = 3, then the VA outputs
    h = task_heads(logits, "multitask", 3)
    assert h.class_logits.tolist() == [[1.0, 2.0, 3.0]]
    assert h.va[0].tolist() == pytest.approx([0.0, 0.5])  # tanh(0), tanh(atanh(0.5))
    h = task_heads(t([[math.atanh(-0.25), 0.0]]), "va_regression", 7)
    assert h.class_logits is None and h.va[0].tolist() == pytest.approx([-0.25, 0.0])
    assert task_heads(logits[:, :3], "classification", 3).va is None
    with pytest.raises(ValueError, match=r"expected shape \(B, 9\)"):
        task_heads(logits, "multitask", 7)


def test_recipe_task_and_method_fields():
    assert Recipe().task == "classification" and Recipe().method == "standard"
    assert Recipe(adam_betas=[0.5, 0.99]).adam_betas == (0.5, 0.99)  # a TOML list is accepted
    with pytest.raises(RecipeError, match="recipe.task must be one of"):
        Recipe(task="regression")
    with pytest.raises(RecipeError, match="recipe.method must be one of"):
        Recipe(method="caf")
    with pytest.raises(RecipeError, match="adam_betas"):
        Recipe(adam_betas=(0.5,))
    base = Recipe().digest()  # new fields enter the digest only off their defaults
    assert Recipe(task="classification", method="standard", adam_betas=(0.9, 0.999)).digest() == base
    assert len({base, Recipe(task="va_regression").digest(), Recipe(method="elim").digest(),
                Recipe(adam_betas=(0.5, 0.99)).digest()}) == 4


# -- losses -------------------------------------------------------------------------------------


def test_standard_va_loss_by_hand():
    # valence errors 0.5, 0 -> MSE_v = 0.25 / 2; arousal errors 0, 1 -> MSE_a = 1 / 2
    va, target = t([[0.5, 0.0], [0.0, 0.0]]), t([[0.0, 0.0], [0.0, 1.0]])
    assert float(standard_va_loss(va, target)) == pytest.approx(0.125 + 0.5)


def test_pcc_ccc_one_ddof_and_fer_zoo_loss_by_hand():
    # valence: x = [1, 2, 3] vs y = [2, 4, 6]: s_x^2 = 2/3, s_y^2 = 8/3, s_xy = 4/3, means 2, 4:
    # PCC = 1, CCC = (8/3) / (2/3 + 8/3 + 4) = 8/22; arousal identical to its target: 1, 1
    va, target = t([[1, 1], [2, 2], [3, 3]]), t([[2, 1], [4, 2], [6, 3]])
    pcc, ccc = pcc_ccc(va, target)
    assert pcc.tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert ccc.tolist() == pytest.approx([8 / 22, 1.0], abs=1e-6)
    # MSE_v = (1 + 4 + 9) / 3, MSE_a = 0; L_PCC = 0, L_CCC = 1 - (8/22 + 1) / 2 = 7/22
    want = 14 / 3 + 0.5 * (0.0 + 7 / 22)
    assert float(fer_zoo_va_loss(va, target)) == pytest.approx(want, abs=1e-6)
    # FER-Zoo's pcc_ccc_loss divides the mean of products (ddof 0) by torch.std (ddof 1):
    # (4/3) / (1 * 2) = 2/3 = (N-1)/N for a perfect correlation: the bug this loss avoids
    x, y = va[:, 0], target[:, 0]
    fer_zoo_pcc = float(((x - x.mean()) * (y - y.mean())).mean() / (torch.std(x) * torch.std(y)))
    assert fer_zoo_pcc == pytest.approx(2 / 3)
    assert float(pcc[0]) != pytest.approx(fer_zoo_pcc)


def test_fer_zoo_loss_is_zero_for_perfect_predictions_and_finite_for_constant_ones():
    target = t([[0.1, -0.4], [0.6, 0.2], [-0.3, 0.5]])
    assert float(fer_zoo_va_loss(target.clone(), target)) == pytest.approx(0.0, abs=1e-6)
    const = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
    loss = fer_zoo_va_loss(const, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(const.grad).all()  # no NaN at zero variance
    one = fer_zoo_va_loss(t([[0.5, 0.5]]), t([[0.0, 1.0]]))  # one sample: no correlation terms
    assert float(one) == pytest.approx(0.25 + 0.25)


def test_identity_shift_of_a_translated_identity():
    # other = anchor + (1, 1) with an asymmetric anchor, so the relevance weights are not uniform
    # and the OT shift is not the plain mean difference (1, 1). By hand:
    #   mean(other) = (2, 1.5): a = relu((2, 0) . (2, 1.5), (0, 1) . (2, 1.5)) = (4, 1.5) -> (8, 3) / 11
    #   mean(anchor) = (1, 0.5): b = relu((3, 1) . (1, 0.5), (1, 2) . (1, 0.5)) = (3.5, 2) -> (7, 4) / 11
    # In the balanced limit (large reg_m) the plan's marginals are a and b, so the shift is
    #   sum_k b_k other_k - sum_i a_i anchor_i
    #   = (7 (3, 1) + 4 (1, 2) - 8 (2, 0) - 3 (0, 1)) / 11 = (9, 12) / 11
    anchor = t([[2.0, 0.0], [0.0, 1.0]])
    other = anchor + 1.0
    expected = [9 / 11, 12 / 11]
    assert identity_shift(anchor, other, reg_m=1e6).tolist() == pytest.approx(expected, abs=1e-5)
    assert identity_shift(other, anchor, reg_m=1e6).tolist() == pytest.approx([-v for v in expected], abs=1e-5)
    # the same number from POT's exact (unregularised) transport plan, displacement weighted by it
    ot = pytest.importorskip("ot")
    a, b = np.array([8.0, 3.0]) / 11, np.array([7.0, 4.0]) / 11
    za, zo = anchor.double().numpy(), other.double().numpy()
    cost = 1.0 - (za @ zo.T) / np.outer(np.linalg.norm(za, axis=1), np.linalg.norm(zo, axis=1))
    plan = ot.emd(a, b, cost)
    shift = sum(plan[i, k] * (zo[k] - za[i]) for i in range(2) for k in range(2)) / plan.sum()
    assert shift.tolist() == pytest.approx(expected, abs=1e-12)


def test_identity_shift_follows_the_matching():
    # the anchor shows two expressions, the other identity only the first, displaced by
    # d = (0, 0, 0.5): the plain mean difference (0.4, -0.4, 0.5) mixes in the expression the
    # other identity lacks; the matched (unbalanced) shift stays closer to d than the balanced one
    anchor = t([[1.0, 0.2, 0.0], [0.2, 1.0, 0.0]])
    other = t([[1.0, 0.2, 0.5]])
    d = t([0.0, 0.0, 0.5])
    mean_diff = other.mean(0) - anchor.mean(0)
    unbalanced = identity_shift(anchor, other, reg_m=1.0)
    balanced = identity_shift(anchor, other, reg_m=1e4)
    err = [float((s - d).norm()) for s in (unbalanced, balanced, mean_diff)]
    assert err[0] < err[1] < err[2]
    assert float(unbalanced[2]) == pytest.approx(0.5)  # the displaced axis is exact


def test_elim_warmup_is_fer_zoos_ramp():
    assert [elim_warmup(s) for s in (0, 9, 10, 100, 199, 200, 5000)] == pytest.approx(
        [0.0, 0.0, 0.05, 0.5, 0.995, 1.0, 1.0])


class IdentityReadout(torch.nn.Module):
    """A model whose readout is the identity on 2 features (VA outputs = features)."""

    def apply_readout(self, z):
        return z


class Order:
    """An rng stand-in that returns the identities in a given order."""

    def __init__(self, order):
        self.order = order

    def choice(self, present, size, replace):
        assert sorted(self.order) == sorted(present) and not replace
        return np.asarray(self.order[:size])


def test_elim_erm_loss_by_hand():
    # identity 0: features a; identity 1: b = a + (0.2, 0.2); both with targets tanh(a) (same
    # expressions, identity-free). Swap-symmetric, so the shift is exactly +-(0.2, 0.2).
    a = t([[0.3, 0.1], [0.1, 0.3]])
    feats = torch.cat([a, a + 0.2])
    targets = TaskTargets(y=torch.zeros(4, dtype=torch.long), va=torch.tanh(torch.cat([a, a])),
                          identity=torch.tensor([0, 0, 1, 1]))
    m = ElimMethod(max_identities=2)
    # anchor 0: anchor loss MSE(tanh a, tanh a) = 0; identity 1 shifted back to a: 0
    loss = m.erm_loss(IdentityReadout(), feats, targets, "va_regression", 7, Order([0, 1]))
    assert float(loss) == pytest.approx(0.0, abs=1e-9)
    # anchor 1: its own features b vs targets tanh(a), and identity 0 shifted onto b: twice
    # the MSE of tanh(a + 0.2) against tanh(a)
    mse = float(((np.tanh(a.numpy() + 0.2) - np.tanh(a.numpy())) ** 2).mean())
    loss = m.erm_loss(IdentityReadout(), feats, targets, "va_regression", 7, Order([1, 0]))
    assert float(loss) == pytest.approx(2 * mse, rel=1e-6)
    one = TaskTargets(y=targets.y, va=targets.va, identity=torch.zeros(4, dtype=torch.long))
    assert m.erm_loss(IdentityReadout(), feats, one, "va_regression", 7, Order([0])) is None


def test_elim_adds_nothing_during_warmup_and_the_term_after():
    class Out:
        logits = t([[0.2, -0.1], [0.4, 0.0], [-0.3, 0.3], [0.1, 0.1]])
        features = t([[0.2, -0.1], [0.4, 0.0], [-0.3, 0.3], [0.1, 0.1]])

    targets = TaskTargets(y=torch.zeros(4, dtype=torch.long), va=t([[0.1, 0.0], [0.3, 0.1],
                          [-0.2, 0.2], [0.0, 0.3]]), identity=torch.tensor([0, 0, 1, 1]))
    base, _ = MT.BaselineMethod().loss(IdentityReadout(), Out(), targets, "va_regression", 7,
                                       StepContext(0, 0, 0, 0))
    early, info = ElimMethod().loss(IdentityReadout(), Out(), targets, "va_regression", 7,
                                    StepContext(0, 0, 5, 5))
    assert float(early) == float(base) and "erm_loss" not in info
    late, info = ElimMethod().loss(IdentityReadout(), Out(), targets, "va_regression", 7,
                                   StepContext(0, 3, 0, 400))
    assert float(late) == pytest.approx(float(base) + 0.5 * info["erm_loss"])


def test_check_task_data_refuses_with_clear_messages():
    class NoVA:
        name, provides = "events-only", ("events",)

    class NoIdentity:
        name, provides, has_identities = "images", ("events", "valence_arousal"), False

    with pytest.raises(ValueError, match="needs valence-arousal targets; dataset 'events-only'"):
        check_task_data(NoVA(), "va_regression", "standard")
    with pytest.raises(ValueError, match="needs identity labels, but dataset 'images' has none"):
        check_task_data(NoIdentity(), "va_regression", "elim")
    with pytest.raises(ValueError, match="'baseline' is FER-Zoo's valence-arousal loss"):
        check_task_data(NoVA(), "classification", "baseline")
    check_task_data(NoVA(), "classification", "elim")  # subjects by default: fine


# -- features of every backend ------------------------------------------------------------------


@pytest.mark.parametrize("backend_name", ["ann", "snntorch", "lava-dl"])
def test_features_and_readout_reproduce_the_logits(backend_name):
    from backends.base import get_backend
    from backends.specs import get_arch

    backend = get_backend(backend_name)
    ok, why = backend.available()
    if not ok:
        pytest.skip(f"{backend_name}: {why}")
    arch = get_arch("tiny")
    shape = (arch.n_time_bins, 2, *arch.input_size)
    torch.manual_seed(0)
    model = backend.build(arch, shape, task_outputs("multitask", 7)).eval()
    x = (torch.rand(3, *shape) < 0.2).float()
    out = backend.forward(model, x)
    assert out.logits.shape == (3, 9) and out.features.shape[0] == 3
    # the readout is linear: readout(mean_t features) == mean_t readout(features) == logits
    assert torch.allclose(model.apply_readout(out.features), out.logits, atol=1e-5)


# -- through the training loop ------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    from datasets.loaders.synthetic import generate_synthetic_fer_dvs

    root = tmp_path_factory.mktemp("mini")
    generate_synthetic_fer_dvs(root, progress=False, n_subjects=4, takes=2, size=32, n_frames=12,
                               n_folds=2, test_subjects=0, folder="SyntheticFerDVSMini")
    return root


@pytest.mark.parametrize("task, method", [("va_regression", "baseline"), ("multitask", "elim")])
def test_va_and_elim_train_through_the_loop(mini, task, method):
    from backends.base import get_backend
    from backends.specs import get_arch
    from benchmarks.results.spec import Cell
    from benchmarks.runner.data import clear_caches, load_cell_data
    from benchmarks.runner.inference import predict
    from benchmarks.runner.methods import split_va, va_test_metrics
    from benchmarks.runner.training import set_seed, train

    clear_caches()
    cell = Cell(dataset="synthetic-fer-dvs-mini", backend="ann", arch="tiny",
                recipe=Recipe(task=task, method=method, epochs=2, batch_size=8, codecarbon=False,
                              **{k: v for k, v in MT.FER_ZOO_RECIPE.items() if k != "lr"}, lr=1e-3))
    arch = get_arch("tiny")
    data = load_cell_data(cell, arch, mini)
    backend = get_backend("ann")
    set_seed(0)
    model = backend.build(arch, tuple(data.train.x.shape[1:]), task_outputs(task, 7))
    out = train(backend, model, data, cell, progress=False)
    assert all(math.isfinite(e["train_loss"]) for e in out["history"])
    assert ("train_accuracy" in out["history"][0]) == (task == "multitask")
    logits, _, _ = predict(backend, model, data.test.x, 8, "cpu")
    m = va_test_metrics(logits, split_va(data.dataset, data.test.indices), task, 7)
    assert set(m) >= {"va_rmse_valence", "va_ccc_arousal", "va_sagr_valence", "va_ccc_mean"}
    assert 0.0 <= m["va_rmse_valence"] <= 2.0
    clear_caches()
