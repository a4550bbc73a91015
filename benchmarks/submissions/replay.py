"""Replay of a bundled record: its checkpoint run again on the test samples through the suite's
own evaluation path, and the outputs compared with the stored ones.

Paths (the same code that made the record):

- a ``"trained"`` record: the cell's data (:func:`benchmarks.runner.data.load_cell_data`, the
  test split binned exactly as the cell binned it), the model rebuilt from the checkpoint
  (:func:`benchmarks.runner.checkpoints.load_checkpoint`), moved to the run backend by
  :func:`backends.nir_exchange.transfer` for a cell trained in one backend and evaluated in
  another, and run by :func:`benchmarks.runner.inference.predict` at the recipe's batch size
  and mixed precision;
- a ``"robustness"`` record: the clean and corrupted test inputs of
  :mod:`benchmarks.robustness.sweep` (the corruption's generator is seeded per recording, so a
  subset of recordings gets the same corrupted events), clean and at each stored severity;
- a ``"deployment"`` record (ok or skipped, :func:`replay_deployment`): the deployment cell
  rebuilt from the checkpoint (its cell, as ``run_bench.py deploy`` plans it), the target and
  the declared ``max_test``, and evaluated again by
  :func:`benchmarks.deploy.evaluate.run_deploy_cell` with the target file registered here: the
  fit verdict (:func:`backends.targets.fit.fit`), the quantisation, the chip-precision and
  float logits, every sample's decision step and the spike and synaptic-operation counts must
  equal the stored ones. The target file bundled with the record (``targets/<target>.toml``)
  must be byte-equal to the one registered here; otherwise the target file changed since the
  record, and every difference is reported as a reason of a ``consistent`` verdict.

Samples: all of the record's, or with ``n`` a deterministic subset of ``n``, evenly spaced over
the stored order (:func:`benchmarks.robustness.sweep.subsample_test_split`). A deployment record
is replayed on its whole declared subset (``n`` does not apply): the deploy evaluation takes the
subset its ``max_test`` declares, and the fixed-point forward is cheap.

Comparison (:data:`REPLAY_REL_TOL`): per record, ``max |replayed - stored| / max |stored|`` over
the replayed samples' outputs (class logits, and ``va_pred`` for a valence-arousal head) must be
at most the tolerance; a replayed argmax may differ from the stored ``pred`` only where the stored
top two logits are within the tolerance of each other (a tie that rounding can flip).

The stored samples must be exactly the test split's (sequence ids and labels), else the record
is rejected: predictions for samples not in the split, or missing some, are named.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.native.card import PluginError
from datasets.common import InputError

log = logging.getLogger(__name__)

REPLAY_REL_TOL = 1e-5
"""Relative tolerance of replayed outputs (of the largest stored absolute output of the record). Measured
on the 2-core CPU: every backend's ``tiny`` replays its stored logits exactly or within 5e-10,
native models within 3e-6 (float32 sums in another order); stored logits have 9 significant
digits (float32-exact). 1e-5 leaves a factor of 3 above the largest measured difference and is
far below any change of the weights (a swapped or retrained checkpoint differs by > 1e-2)."""
MAX_NAMED = 5
"""How many differing samples a mismatch message names."""


@dataclass
class ReplayResult:
    """What a replay found: ``status`` ``"verified"`` (replayed and matching), ``"consistent"``
    (not replayed; ``reasons`` says why) or ``"rejected"`` (``problems``); ``replay`` the
    numbers (``n_samples``, ``max_rel_logit_diff``, ``changed_predictions``, ``rel_tol``,
    ``time_s``) or ``None``."""

    status: str
    reasons: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    replay: dict[str, Any] | None = None


def _cell(spec: dict[str, Any]):
    from benchmarks.results.spec import Cell, Recipe

    spec = dict(spec)
    spec["recipe"] = Recipe.from_dict(spec.get("recipe") or {})
    spec["plugins"] = tuple(spec.get("plugins") or ())
    return dataclasses.replace(Cell(**spec), device="cpu")


def _outputs(stored: dict[str, Any], corrupted: str | None) -> list[float] | None:
    """The stored outputs of one sample: logits (+ va_pred), or a severity's corrupted logits."""
    if corrupted is not None:
        e = (stored.get("corrupted") or {}).get(corrupted) or {}
        return e.get("logits")
    out = list(stored.get("logits") or [])
    out += list(stored.get("va_pred") or [])
    return out or None


def compare(say, what: str, ids: list[str], stored: list[dict[str, Any]], replayed: np.ndarray,
            k: int, corrupted: str | None = None) -> tuple[float, int]:
    """Compare replayed outputs ``(n, D)`` with the stored ones of the same samples.

    Args:
        say: ``say(field, message)`` records a problem.
        what: label of the compared outputs in messages (``"logits"``, ``"severity 3 logits"``).
        ids: the samples' sequence ids; stored: their stored prediction objects.
        k: number of class logits at the front of each output (0: no class head).
        corrupted: a severity key to compare the stored ``corrupted[<s>]`` entry instead.

    Returns:
        ``(max relative difference, number of changed predictions)``.
    """
    want = [_outputs(p, corrupted) for p in stored]
    bad_shape = [i for i, w in enumerate(want) if w is None or len(w) != replayed.shape[1]]
    if bad_shape:
        say("predictions", f"{what}: {len(bad_shape)} stored sample(s) have no or a wrong-sized "
                           f"output, first {ids[bad_shape[0]]!r}")
        return float("inf"), 0
    w = np.asarray(want, dtype=np.float64)
    r = np.asarray(replayed, dtype=np.float64)
    scale = max(float(np.abs(w).max()) if w.size else 0.0, 1e-30)
    rel = np.abs(r - w).max(axis=1) / scale
    worst = float(rel.max()) if rel.size else 0.0
    off = [i for i in np.argsort(-rel, kind="stable") if rel[i] > REPLAY_REL_TOL]
    if off:
        named = ", ".join(f"{ids[i]} ({rel[i]:.2e})" for i in sorted(off)[:MAX_NAMED])
        say("predictions", f"replayed {what} differ from the stored ones by up to {worst:.3e} of "
                           f"max |logit| (tolerance {REPLAY_REL_TOL:g}) on {len(off)} of {len(ids)} "
                           f"sample(s); first: {named}")
    changed = 0
    if k:
        stored_pred = w[:, :k].argmax(1)
        new_pred = r[:, :k].argmax(1)
        top2 = np.sort(w[:, :k], axis=1)[:, -2:] if k > 1 else np.zeros((len(w), 2))
        tie = (top2[:, 1] - top2[:, 0]) <= REPLAY_REL_TOL * scale
        flips = [i for i in range(len(ids)) if new_pred[i] != stored_pred[i]]
        changed = len(flips)
        hard = [i for i in flips if not tie[i]]
        if hard:
            named = ", ".join(f"{ids[i]} ({stored_pred[i]}->{new_pred[i]})" for i in hard[:MAX_NAMED])
            say("predictions", f"replayed {what} change the predicted class of {len(hard)} "
                               f"sample(s) whose stored top two logits are not tied; first: {named}")
    return worst, changed


def _check_samples(say, stored: list[dict[str, Any]], ids: list[str], labels: list[int]) -> bool:
    """The stored samples are exactly the split's (ids, labels); report every difference."""
    have = {str(p.get("sequence_id")): p for p in stored}
    want = dict(zip(ids, labels, strict=True))
    extra = sorted(set(have) - set(want))
    missing = sorted(set(want) - set(have))
    if extra:
        say("predictions", f"{len(extra)} sample(s) not in the task's test split, first "
                           f"{extra[:MAX_NAMED]}")
    if missing:
        say("predictions", f"{len(missing)} sample(s) of the task's test split missing, first "
                           f"{missing[:MAX_NAMED]}")
    wrong = [i for i in sorted(set(have) & set(want)) if have[i].get("label") != want[i]]
    if wrong:
        say("predictions", f"{len(wrong)} sample(s) stored with another label than the test "
                           f"split's, first {wrong[0]!r}: {have[wrong[0]].get('label')!r} != "
                           f"{want[wrong[0]]}")
    return not (extra or missing or wrong)


def split_sample_problems(rec: dict[str, Any], data_root: str | Path) -> list[str]:
    """The samples of a record that fails the static checks, against the local test split:
    those not in it and those of it missing (robustness records: of the subset they declare),
    so that a wrong set of samples is named even where the replay does not run (deployment
    records: of the subset they declare). Labels are
    compared by the replay. ``[]`` where the data is not available here or the record has no
    dataset.
    """
    from benchmarks.robustness.sweep import subsample_test_split

    problems: list[str] = []
    cell_spec = rec.get("cell") or {}
    if rec.get("kind") not in ("trained", "robustness", "deployment") or not cell_spec.get(
            "dataset") or rec.get("status") != "ok":
        return problems
    try:
        cell = _cell(cell_spec)
        dataset = _open_dataset(cell.dataset, cell.recipe, data_root)
        _, test_idx = dataset.split(int(cell.fold), str(cell.protocol))
    except (_Unavailable, InputError, TypeError, ValueError):
        return problems
    if rec.get("kind") in ("robustness", "deployment"):
        declared = rec.get("corruption") if rec.get("kind") == "robustness" else rec.get("deployment")
        test_idx = subsample_test_split(test_idx, (declared or {}).get("max_test"))
    want = {f"{s.subject}/{s.sequence}" for s in (dataset.sequences[i] for i in test_idx)}
    have = {str(p.get("sequence_id")) for p in rec.get("predictions") or []
            if isinstance(p, dict)}
    if have - want:
        problems.append(f"predictions: {len(have - want)} sample(s) not in the task's test "
                        f"split, first {sorted(have - want)[:MAX_NAMED]}")
    if want - have:
        problems.append(f"predictions: {len(want - have)} sample(s) of the task's test split "
                        f"missing, first {sorted(want - have)[:MAX_NAMED]}")
    return problems


def replay_record(rec: dict[str, Any], bundle_dir: str | Path, data_root: str | Path, *,
                  n: int | None = None, trust_plugins: bool = False,
                  external: frozenset[str] = frozenset()) -> ReplayResult:
    """Replay one schema-valid record of a bundle (see the module docstring).

    Args:
        rec: the record (as :func:`benchmarks.results.records.read_records` returns it).
        bundle_dir: the bundle folder (``checkpoints/``, ``plugins/``).
        data_root: where the datasets are (the built-in data is generated there).
        n: replay a deterministic subset of ``n`` samples; ``None``: all.
        trust_plugins: import the bundle's plugin files (code) to rebuild native models.
        external: bundle paths of checkpoints given only by URL (not replayed).

    Returns:
        A :class:`ReplayResult`. Problems name the field; the caller prefixes the file and record.
    """
    res = ReplayResult("consistent")

    def say(fld: str, msg: str) -> None:
        res.problems.append(f"{fld}: {msg}")

    kind = rec.get("kind")
    ck = rec.get("checkpoint")
    cell_spec = rec.get("cell") or {}
    if kind == "published":
        res.reasons.append("published predictions: no checkpoint to replay (metrics recomputed "
                           "from the stored predictions)")
        return res
    if not ck:
        res.reasons.append("the record has no checkpoint to replay")
        return res
    if ck in external:
        res.reasons.append(f"checkpoint {ck} is given by URL only (not downloaded)")
        return res
    plugins = list(cell_spec.get("plugins") or ())
    if (plugins or rec.get("model")) and not trust_plugins:
        res.reasons.append("plugin not run: a native model's plugin files are code, imported "
                           "only with --trust-plugins")
        return res
    t0 = time.perf_counter()
    try:
        with bundle_plugins(bundle_dir, plugins) as registered:
            arch = cell_spec.get("arch")
            if plugins and arch not in registered:
                say("cell.arch", f"{arch!r} is not registered by the bundle's plugin files "
                                 f"({', '.join(plugins)} register {registered})")
                res.status = "rejected"
                return res
            out = _replay(rec, Path(bundle_dir), data_root, n, say, res)
    except PluginError as exc:
        say("cell.plugins", f"plugin fails to import: {exc}")
        res.status = "rejected"
        return res
    except _Unavailable as exc:
        res.reasons.append(str(exc))
        return res
    if res.problems:
        res.status = "rejected"
    elif out is not None:
        res.status = "verified"
    if out is not None:
        res.replay = {**out, "rel_tol": REPLAY_REL_TOL,
                      "time_s": round(time.perf_counter() - t0, 3)}
    return res


@contextmanager
def bundle_plugins(bundle_dir: str | Path, plugins: list[str]) -> Iterator[list[str]]:
    """Register the architectures of a bundle's plugin files, and only those, for the duration
    of the ``with`` block; yields the names they register.

    Every architecture registered by a plugin file loaded earlier in this process (the
    submitter's own copy, another bundle's) is hidden meanwhile, so a native model is rebuilt
    from this bundle's file and never from a same-named model of another file; the registry
    (:data:`backends.specs.ARCHS`) and the loaded-plugin table of :mod:`backends.native.card`
    are restored afterwards. With no plugin file, nothing changes.

    Raises:
        PluginError: a plugin file fails to import, registers nothing or a taken name.
    """
    if not plugins:
        yield []
        return
    from backends.native import card
    from backends.specs import ARCHS

    ARCHS.names()  # the suite's own architectures loaded before the snapshot
    saved = (dict(ARCHS._items), dict(ARCHS._modules), dict(ARCHS._aliases), dict(card._PLUGINS))
    for names in card._PLUGINS.values():
        for name in names:
            ARCHS._items.pop(name, None)
            ARCHS._modules.pop(name, None)
    card._PLUGINS.clear()
    try:
        yield card.load_plugins(tuple(str(Path(bundle_dir) / p) for p in plugins))
    finally:
        for live, old in zip((ARCHS._items, ARCHS._modules, ARCHS._aliases, card._PLUGINS),
                             saved, strict=True):
            live.clear()
            live.update(old)


class _Unavailable(Exception):
    """The data needed to replay is not available here (the record stays consistent)."""


def _open_dataset(name: str, recipe, data_root):
    import types

    from benchmarks.runner.data import dataset_params, open_dataset_cached

    try:
        return open_dataset_cached(name, data_root, **dataset_params(
            types.SimpleNamespace(dataset=name, recipe=recipe)))
    except (InputError, FileNotFoundError, OSError) as exc:
        raise _Unavailable(f"dataset {name!r} is not available under {data_root}: "
                           f"{' '.join(str(exc).split())[:200]}") from exc


def _replay(rec, bundle_dir: Path, data_root, n, say, res) -> dict[str, Any] | None:
    from benchmarks.robustness.sweep import subsample_test_split
    from benchmarks.runner.checkpoints import load_checkpoint

    kind = rec.get("kind")
    cell = _cell(rec.get("cell") or {})
    dataset = _open_dataset(cell.dataset, cell.recipe, data_root)
    if rec.get("status") == "ok":
        _check_local_split(rec, cell, dataset, say)
    if kind == "deployment":
        return replay_deployment(rec, bundle_dir, data_root, say, res.reasons)
    try:
        loaded = load_checkpoint(bundle_dir / rec["checkpoint"], "cpu")
    except (InputError, FileNotFoundError) as exc:  # CheckpointError, a native model's own check
        say("checkpoint", f"does not load or does not fit its architecture: {exc}")
        return None
    source = (rec.get("corruption") or {}).get("cell_id") if kind == "robustness" else rec["cell_id"]
    if loaded.checkpoint.get("cell_id") != source:
        say("checkpoint", f"{rec['checkpoint']} holds cell {loaded.checkpoint.get('cell_id')!r}, "
                          f"not {source!r}")
    stored = list(rec.get("predictions") or [])
    k = len(rec.get("classes") or [])
    try:
        if kind == "robustness":
            return _replay_robustness(rec, cell, dataset, loaded, stored, k, n, say)
        return _replay_trained(cell, loaded, stored, k, n, say, data_root, subsample_test_split)
    except (InputError, RuntimeError) as exc:  # the model (a native one's code) fails to run
        say("checkpoint", f"the model fails to run on the test samples: {type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:300]}")
        return None


def _check_local_split(rec, cell, dataset, say) -> None:
    """The local data's test split is the record's task version: its ids, labels and recording
    contents digest (:func:`benchmarks.results.tasks.split_digests`) resolve to that version."""
    from benchmarks.results import tasks

    ref = rec.get("task") or {}
    if not ref.get("id"):
        return
    _, test_idx = dataset.split(int(cell.fold), str(cell.protocol))
    ids, content = tasks.split_digests(dataset, test_idx)
    v = tasks.resolve(str(ref["id"]), ids, content)
    if v is None or v.version != ref.get("version"):
        say("task", f"the local data's test split (ids/labels {ids[:12]}, contents "
                    f"{content[:12]}) is not version {ref.get('version')!r} of {ref['id']!r}: "
                    "the data here differ from the task's")


def _replay_trained(cell, loaded, stored, k, n, say, data_root, subsample) -> dict[str, Any] | None:
    import torch

    from backends.specs import get_arch
    from benchmarks.runner.data import load_cell_data
    from benchmarks.runner.inference import predict
    from benchmarks.runner.methods import task_heads
    from benchmarks.runner.training import autocast

    arch = get_arch(cell.arch)
    data = load_cell_data(cell, arch, data_root)
    seqs = [data.dataset.sequences[i] for i in data.test.indices]
    ids = [f"{s.subject}/{s.sequence}" for s in seqs]
    if not _check_samples(say, stored, ids, [int(v) for v in data.test.y]):
        return None
    by_id = {str(p["sequence_id"]): p for p in stored}
    pos = subsample(list(range(len(ids))), n)
    backend, model = loaded.backend, loaded.model
    if cell.transferred:
        from backends.base import get_backend
        from backends.nir_exchange import transfer
        from benchmarks.runner.training import prepare_model

        backend = get_backend(cell.run_backend)
        net_b = transfer(loaded.model, cell.backend, cell.run_backend, arch,
                         tuple(data.train.x.shape[1:]), data.num_classes, via=cell.transfer_via)
        model = prepare_model(backend, net_b, cell)
    x = data.test.x[pos]
    frames = data.test.frames[pos] if data.test.frames is not None else None
    with autocast(cell.device, cell.recipe.amp, backend):
        outputs, _, _ = predict(backend, model, x, cell.recipe.batch_size, "cpu", frames=frames)
    heads = task_heads(outputs.float(), cell.recipe.task, data.num_classes)
    parts = [t for t in (heads.class_logits, heads.va) if t is not None]
    replayed = torch.cat(parts, dim=1).numpy()
    kk = k if heads.class_logits is not None else 0
    sel = [ids[i] for i in pos]
    worst, changed = compare(say, "logits", sel, [by_id[i] for i in sel], replayed, kk)
    return {"n_samples": len(sel), "max_rel_logit_diff": worst, "changed_predictions": changed}


def _replay_robustness(rec, cell, dataset, loaded, stored, k, n, say) -> dict[str, Any] | None:
    from benchmarks.robustness.sweep import (
        EVAL_BATCH_SIZE,
        _intensity_frames,
        binary_test_frames,
        binned_test_frames,
        subsample_test_split,
    )
    from benchmarks.runner.inference import predict

    cor = rec.get("corruption") or {}
    _, test_idx = dataset.split(int(cell.fold), str(cell.protocol))
    declared = subsample_test_split(test_idx, cor.get("max_test"))
    seqs = [dataset.sequences[i] for i in declared]
    ids = [f"{s.subject}/{s.sequence}" for s in seqs]
    if not _check_samples(say, stored, ids, [int(s.label) for s in seqs]):
        return None
    by_id = {str(p["sequence_id"]): p for p in stored}
    pos = subsample_test_split(list(range(len(declared))), n)
    idx = [declared[i] for i in pos]
    sel = [ids[i] for i in pos]
    seed = int(cor.get("seed", 0))
    if "events" in dataset.provides:
        binner = loaded.binner_for(tuple(dataset.sensor_size))

        def inputs(name, severity):
            return binned_test_frames(dataset, idx, binner, name, severity, seed)
    else:
        t, _, h, w = loaded.input_shape

        def inputs(name, severity):
            return binary_test_frames(dataset, idx, (t, h, w), cell.recipe.binarize, name,
                                      severity, seed)
    still = _intensity_frames(dataset, idx, loaded)
    worst, changed = 0.0, 0
    for sev in [None, *cor.get("severities", [])]:
        x = inputs(cor.get("name") if sev else None, int(sev or 0))
        logits, _, _ = predict(loaded.backend, loaded.model, x, EVAL_BATCH_SIZE, "cpu", frames=still)
        what = "clean logits" if sev is None else f"severity {sev} logits"
        wst, ch = compare(say, what, sel, [by_id[i] for i in sel], logits.float()[:, :k].numpy(),
                          k, corrupted=None if sev is None else str(sev))
        worst, changed = max(worst, wst), changed + ch
    return {"n_samples": len(sel), "max_rel_logit_diff": worst, "changed_predictions": changed}


DEPLOYMENT_COUNTS = ("spikes_per_inference", "spikes_per_inference_float", "synops_per_inference",
                     "synops_per_inference_float", "decision_steps_mean")
"""Metrics of a deployment record that its per-sample predictions do not hold (``validate``
cannot recompute them): the replay compares them, and ``spike_agreement``, with the stored ones
within :data:`REPLAY_REL_TOL` relative."""


def replay_deployment(rec: dict[str, Any], bundle_dir: Path, data_root: str | Path, say,
                      reasons: list[str]) -> dict[str, Any] | None:
    """Replay one deployment record (see the module docstring) through the deploy evaluation.

    Args:
        rec: an ok or skipped deployment record of the bundle; bundle_dir: the bundle folder.
        data_root: where the datasets are.
        say: ``say(field, message)`` records a problem; reasons: a ``consistent`` verdict's
            reasons are appended here.

    Returns:
        ``{"n_samples", "max_rel_logit_diff", "changed_predictions", "fit"}`` when replayed with
        the record's own target file; ``None`` when the record is rejected before the
        evaluation, or the target file changed since the record (the differences are reasons).
    """
    import json

    from backends.targets.target import get_target
    from benchmarks.deploy.evaluate import DeployCell, run_deploy_cell
    from benchmarks.robustness.sweep import EVAL_BATCH_SIZE, read_checkpoint_meta
    from benchmarks.submissions.bundle import TARGETS_DIR

    dep = rec.get("deployment") or {}
    name = str(dep.get("target"))
    try:
        here = Path(get_target(name).path)
    except InputError as exc:
        say("deployment.target", f"{' '.join(str(exc).split())}")
        return None
    bundled = Path(bundle_dir) / TARGETS_DIR / f"{name}.toml"
    if not bundled.is_file():
        say("deployment.target", f"{TARGETS_DIR}/{name}.toml is not in the bundle (the target "
                                 "file the record was made with)")
        return None
    changed = bundled.read_bytes() != here.read_bytes()
    try:
        meta = read_checkpoint_meta(Path(bundle_dir) / rec["checkpoint"])
    except InputError as exc:
        say("checkpoint", f"does not load: {exc}")
        return None
    if meta["cell_id"] != dep.get("cell_id"):
        say("checkpoint", f"{rec['checkpoint']} holds cell {meta['cell_id']!r}, not "
                          f"{dep.get('cell_id')!r}")
        return None
    mine = {k: v for k, v in (rec.get("cell") or {}).items() if k != "plugins"}
    theirs = {k: v for k, v in (meta.get("cell") or {}).items() if k != "plugins"}
    if json.dumps(mine, sort_keys=True, default=str) != json.dumps(theirs, sort_keys=True,
                                                                   default=str):
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        say("cell", f"differs from the cell of checkpoint {rec['checkpoint']} in {diff}")
        return None
    cell = DeployCell(str(Path(bundle_dir) / rec["checkpoint"]), str(meta["cell_id"]),
                      str(meta["cell"]["dataset"]), name, EVAL_BATCH_SIZE, dep.get("max_test"),
                      dict(meta["cell"]))
    if cell.cell_id != rec.get("cell_id"):
        say("cell_id", f"{rec.get('cell_id')!r} is not the deployment cell of its checkpoint, "
                       f"target and max_test ({cell.cell_id!r})")
        return None
    new = run_deploy_cell(cell, data_root).to_dict()
    if new["status"] == "error":
        say("checkpoint", f"the deploy evaluation fails: {' '.join(str(new['error']).split())[:300]}")
        return None
    found: list[tuple[str, str]] = []
    out = _compare_deployment(rec, new, lambda f, m: found.append((f, m)), here)
    if changed:
        why = (f"the target file changed since the record ({TARGETS_DIR}/{name}.toml of the "
               f"bundle differs from {here}): not replayed with the record's target file")
        reasons.append(why + ("; with the current file: " + "; ".join(
            f"{f}: {m}" for f, m in found) if found else "; the current file gives the stored "
            "fit and outputs"))
        return None
    for f, m in found:
        say(f, m)
    return out


def _compare_deployment(rec: dict[str, Any], new: dict[str, Any], say, target_path: Path
                        ) -> dict[str, Any]:
    """A stored deployment record against its re-evaluation ``new`` (both as dicts)."""
    import numpy as np

    dep, ndep = rec.get("deployment") or {}, new.get("deployment") or {}
    arch = (rec.get("cell") or {}).get("arch")
    if new["status"] != rec.get("status"):
        say("status", f"stored {rec.get('status')!r} ({' '.join(str(rec.get('error')).split())[:120]}),"
                      f" but the deploy evaluation gives {new['status']!r} "
                      f"({' '.join(str(new.get('error')).split())[:120]})")
    sfit, nfit = dep.get("fit") or {}, ndep.get("fit") or {}
    for key in ("verdict", "reason", "chips", "chips_at_least"):
        if sfit.get(key) != nfit.get(key):
            say(f"deployment.fit.{key}", f"stored {sfit.get(key)!r}, but backends/targets/fit.py "
                                         f"gives {nfit.get(key)!r} for {arch!r} on "
                                         f"{target_path.name}")
    if rec.get("status") == "skipped" and new["status"] == "skipped" \
            and rec.get("error") != new.get("error"):
        say("error", f"the stored reason differs from the deploy evaluation's: "
                     f"{' '.join(str(new.get('error')).split())[:200]}")
    result = {"n_samples": 0, "max_rel_logit_diff": 0.0, "changed_predictions": 0,
              "fit": nfit.get("verdict")}
    if rec.get("status") != "ok" or new["status"] != "ok":
        return result
    if dep.get("quantization") != ndep.get("quantization"):
        say("deployment.quantization", f"stored {dep.get('quantization')!r:.200}, but the "
                                       f"target's fixed point gives {ndep.get('quantization')!r:.200}")
    stored, fresh = list(rec.get("predictions") or []), list(new.get("predictions") or [])
    ids = [str(p["sequence_id"]) for p in fresh]
    if not _check_samples(say, stored, ids, [int(p["label"]) for p in fresh]):
        return result
    by_id = {str(p["sequence_id"]): p for p in stored}
    want = [by_id[i] for i in ids]
    k = len(rec.get("classes") or [])
    worst, changed = compare(say, "chip-precision logits", ids, want,
                             np.array([p["logits"] for p in fresh]), k)
    wf, cf = compare(say, "float-model logits", ids, [p.get("float") or {} for p in want],
                     np.array([p["float"]["logits"] for p in fresh]), k)
    late = [i for i, (a, b) in enumerate(zip(want, fresh, strict=True))
            if a.get("decision_step") != b.get("decision_step")]
    if late:
        say("predictions", f"{len(late)} sample(s) stored with another decision_step than the "
                           f"replay's, first {ids[late[0]]!r}: {want[late[0]].get('decision_step')!r}"
                           f" != {fresh[late[0]].get('decision_step')!r}")
    m, nm = rec.get("metrics") or {}, new.get("metrics") or {}
    pairs = [(key, m.get(key), nm.get(key)) for key in DEPLOYMENT_COUNTS]
    pairs += [(f"spike_agreement.{layer}", (m.get("spike_agreement") or {}).get(layer), v)
              for layer, v in (nm.get("spike_agreement") or {}).items()]
    if set(m.get("spike_agreement") or {}) != set(nm.get("spike_agreement") or {}):
        say("metrics.spike_agreement", f"layers {sorted(m.get('spike_agreement') or {})} stored, "
                                       f"the replay has {sorted(nm.get('spike_agreement') or {})}")
    for key, a, b in pairs:
        if not isinstance(a, (int, float)) or abs(float(a) - float(b)) > REPLAY_REL_TOL * max(
                abs(float(b)), 1e-30):
            say(f"metrics.{key}", f"stored {a!r}, but the replay gives {b!r}")
    return {**result, "n_samples": len(ids), "max_rel_logit_diff": max(worst, wf),
            "changed_predictions": changed + cf}
