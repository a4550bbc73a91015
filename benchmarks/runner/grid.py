"""Grids: the product of lists of datasets, backends, architectures, folds and seeds; and the runner.

A grid is declared by command-line options or by a TOML file under ``benchmarks/grids/``::

    name = "default"
    datasets = ["synthetic-fer-dvs"]
    backends = ["ann", "snntorch", "lava-dl"]
    archs = ["tiny"]
    folds = [0]
    seeds = [0]
    protocol = "folds"
    device = "cpu"
    [recipe]
    epochs = 12

Cells outside the product are named in ``[[extra]]`` tables, one (backend, architecture) pair
each, run on every dataset, fold and seed of the grid (the default grid adds ``tiny_iaf`` on
``sinabs``, the architecture made to deploy on DYNAP-CNN, without training it in every backend)::

    [[extra]]
    backend = "sinabs"
    arch = "tiny_iaf"

The runner (:func:`run_grid`) records one record per cell in ``RUN_DIR/results.jsonl``, skips cells
already recorded (resume), records a failing cell as ``status: "error"`` and carries on, skips the
cells of an unavailable backend or an absent dataset with a logged reason (recorded as
``status: "skipped"``), and stops cleanly on Ctrl-C without losing a finished cell. The cells run in
this process, in local worker processes, on a Ray cluster or as Slurm jobs
(:mod:`benchmarks.runner.executors`); each runs exactly once even when several ``run`` processes on several
hosts share the run folder: a claim per cell with a heartbeat, one record file per cell attempt,
merged into ``results.jsonl`` by the driver (:mod:`benchmarks.runner.claims`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.results.plan import write_plan
from benchmarks.results.records import Record, finished_cell_ids
from benchmarks.results.spec import Cell, Recipe
from benchmarks.runner.claims import (
    DEFAULT_HEARTBEAT_S,
    ClaimStore,
    Held,
    merge_cell_records,
    recorded_cell_ids,
    wait_for_holders,
)
from benchmarks.runner.executors import (
    CellTask,
    Executor,
    ExecutorUnavailable,  # noqa: F401 (re-exported: the error of an executor that cannot start)
    LocalExecutor,
    Outcome,
    make_owner,
    status_record,
    write_record,
)
from datasets.common import InputError

log = logging.getLogger(__name__)

GRIDS_DIR = Path(__file__).resolve().parents[1] / "grids"
_GRID_KEYS = {"name", "description", "datasets", "backends", "archs", "folds", "seeds", "protocol",
              "device", "recipe", "run_backends", "transfer_via", "plugins", "robustness",
              "robustness_severities", "robustness_max_test", "extra", "deploy"}
_EXTRA_KEYS = {"backend", "arch"}


class GridFileError(InputError, ValueError):
    """A grid file that does not exist or does not parse; the message names the file and key."""


@dataclass(frozen=True)
class Grid:
    """A benchmark grid (see the module docstring for the TOML form)."""

    name: str = "default"
    datasets: tuple[str, ...] = ("synthetic-fer-dvs",)
    backends: tuple[str, ...] = ("ann", "snntorch", "lava-dl")
    archs: tuple[str, ...] = ("tiny",)
    folds: tuple[int, ...] = (0,)
    seeds: tuple[int, ...] = (0,)
    protocol: str = "folds"
    device: str = "cpu"
    recipe: Recipe = field(default_factory=Recipe)
    description: str = ""
    run_backends: tuple[str, ...] = ()
    """Cross-framework transfer: every cell trained in a backend of ``backends`` is also run
    (evaluated and measured) in each of these, through ``transfer_via`` (``"canonical"`` or
    ``"nir"``); ``()`` (default): each cell runs where it trained. A pair (b, b) is the ordinary
    cell."""
    transfer_via: str = "canonical"
    plugins: tuple[str, ...] = ()
    """Plugin files (``--plugin``) registering native models; recorded in every cell, so that
    worker processes import them (:func:`backends.native.card.load_plugin`)."""

    extra: tuple[tuple[str, str], ...] = ()
    """Cells outside the product: ``(backend, arch)`` pairs (the grid file's ``[[extra]]``
    tables), each run on every dataset, fold and seed; a pair the product already has adds
    nothing. Their cells come after the product's, whose ids and order they leave unchanged."""

    def native_backends(self) -> dict[str, str]:
        """``{arch: backend}`` for the native models among :attr:`archs` (after loading
        :attr:`plugins`): each runs only under its framework's backend."""
        from backends.native.card import is_native, load_plugins
        from backends.specs import ARCHS, get_arch

        load_plugins(self.plugins)
        out = {}
        for a in self.archs:
            if a in ARCHS:
                arch = get_arch(a)
                if is_native(arch):
                    out[a] = arch.backend
        return out

    robustness: tuple[str, ...] = ()
    """Corruptions of the small robustness sweep that ``run_bench.py run`` makes after the grid
    (with the early-decision evaluation; :mod:`benchmarks.robustness`); ``()``: none."""
    robustness_severities: tuple[int, ...] = (1, 3, 5)
    """Severities of that sweep."""
    robustness_max_test: int | None = None
    """At most this many test recordings per checkpoint in that sweep and the early-decision
    evaluation (evenly spaced over the test split: :func:`benchmarks.robustness.sweep.subsample_test_split`);
    ``None``: the whole test split."""

    deploy: tuple[str, ...] = ()
    """Chip targets (:mod:`backends.targets`) at whose precision ``run_bench.py run`` evaluates
    every SNN checkpoint after the grid (:mod:`benchmarks.deploy`), on the same
    :attr:`robustness_max_test` test recordings; ``()``: none."""

    def __post_init__(self) -> None:
        from backends.targets.target import get_target
        from datasets.transforms.corruptions import check_severity, get_corruption

        for name in self.deploy:
            get_target(name)  # an unknown name: UnknownNameError, with close matches

        for name in self.robustness:
            get_corruption(name)  # an unknown name: UnknownNameError, with close matches
        for s in self.robustness_severities:
            check_severity(s)
        m = self.robustness_max_test
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise GridFileError(f"grid {self.name!r}: robustness_max_test must be a positive "
                                f"integer, got {m!r}")

    def cells(self) -> list[Cell]:
        """All cells, datasets outermost and backends innermost (so a dataset is binned once).

        A native model (a :func:`backends.native.card.register_model` card) is paired with its own
        framework's backend only, whatever :attr:`backends` lists, and is never transferred
        (:attr:`run_backends` apply to spec'd architectures)."""
        native = self.native_backends()
        plugins = tuple(str(Path(p).expanduser().resolve()) for p in self.plugins)

        def cell(d: str, b: str, a: str, f: int, s: int, rb: str | None) -> Cell:
            return Cell(dataset=d, backend=b, arch=a, fold=f, seed=s, protocol=self.protocol,
                        device=self.device, recipe=self.recipe,
                        run_backend=None if rb in (None, b) else rb,
                        transfer_via=self.transfer_via, plugins=plugins)

        product = [
            cell(d, b, a, f, s, rb)
            for d in self.datasets
            for a in self.archs
            for f in self.folds
            for s in self.seeds
            for b in ((native[a],) if a in native else self.backends)
            for rb in ((None,) if a in native else (self.run_backends or (None,)))
        ]
        return product + [cell(d, b, a, f, s, None)
                          for b, a in self.extra_pairs()
                          for d in self.datasets for f in self.folds for s in self.seeds]

    def extra_pairs(self) -> list[tuple[str, str]]:
        """The :attr:`extra` ``(backend, arch)`` pairs that the product lacks, in file order."""
        native = self.native_backends()
        have = {(b, a) for a in self.archs
                for b in ((native[a],) if a in native else self.backends)}
        return [p for p in dict.fromkeys(self.extra) if p not in have]


def grid_names() -> list[str]:
    """Names of the grid files kept under ``benchmarks/grids/``."""
    return sorted(p.stem for p in GRIDS_DIR.glob("*.toml"))


def load_grid(name_or_path: str | Path) -> Grid:
    """Load a grid from a TOML file, given as a path or as a name under ``benchmarks/grids/``.

    Raises:
        GridFileError: no such file or grid name (lists the known names), invalid TOML, an
            unknown key or an invalid value (names the file and the key).
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = Path(name_or_path)
    if not path.is_file():
        path = GRIDS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise GridFileError(f"no grid file {name_or_path!r}; known grids: {', '.join(grid_names())}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise GridFileError(f"{path}: invalid TOML: {exc}") from exc
    unknown = sorted(set(data) - _GRID_KEYS)
    if unknown:
        raise GridFileError(f"{path}: unknown key(s) {unknown}; known: {sorted(_GRID_KEYS)}")
    try:
        recipe = Recipe.from_dict(data.pop("recipe", {}))
    except (TypeError, ValueError) as exc:  # RecipeError, or a wrong type
        raise GridFileError(f"{path}: [recipe]: {exc}") from exc
    kwargs: dict[str, Any] = {"name": data.pop("name", path.stem), "recipe": recipe}
    if "plugins" in data:  # paths relative to the grid file
        data["plugins"] = [str((path.parent / p).resolve()) if not Path(p).is_absolute() else p
                           for p in data["plugins"]]
    for key in ("datasets", "backends", "archs", "folds", "seeds", "run_backends", "plugins",
                "robustness", "robustness_severities", "deploy"):
        if key in data:
            val = data.pop(key)
            if not isinstance(val, list) or not val:
                raise GridFileError(f"{path}: {key} must be a non-empty list, got {val!r}")
            kwargs[key] = tuple(val)
    if "extra" in data:
        kwargs["extra"] = _extra_pairs(path, data.pop("extra"))
    kwargs.update(data)
    return Grid(**kwargs)


def _extra_pairs(path: Path, tables: Any) -> tuple[tuple[str, str], ...]:
    """The ``[[extra]]`` tables of the grid file ``path`` as ``(backend, arch)`` pairs.

    Raises:
        GridFileError: not a list of tables, an unknown key, or a missing or non-string
            ``backend`` / ``arch`` (names the file, the table's index and the field).
    """
    if not isinstance(tables, list) or not tables:
        raise GridFileError(f"{path}: extra must be a list of [[extra]] tables, got {tables!r}")
    pairs = []
    for i, t in enumerate(tables):
        if not isinstance(t, dict):
            raise GridFileError(f"{path}: extra[{i}] must be a table, got {t!r}")
        unknown = sorted(set(t) - _EXTRA_KEYS)
        if unknown:
            raise GridFileError(f"{path}: extra[{i}]: unknown key(s) {unknown}; known: "
                                f"{sorted(_EXTRA_KEYS)}")
        for key in ("backend", "arch"):
            if not isinstance(t.get(key), str) or not t[key]:
                raise GridFileError(f"{path}: extra[{i}].{key} must be a name, got {t.get(key)!r}")
        pairs.append((t["backend"], t["arch"]))
    return tuple(pairs)


def override(grid: Grid, **opts: Any) -> Grid:
    """Return ``grid`` with the non-``None`` options replaced (``epochs``/``batch_size`` go to the
    recipe; list options become tuples). Naming ``backends`` or ``archs`` drops the grid's
    :attr:`Grid.extra` cells: the command line then names the cells to run."""
    recipe_opts = {k: opts.pop(k) for k in list(opts) if k in Recipe.__dataclass_fields__}
    recipe_opts = {k: v for k, v in recipe_opts.items() if v is not None}
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in opts.items() if v is not None}
    if recipe_opts:
        changes["recipe"] = replace(grid.recipe, **recipe_opts)
    if "backends" in changes or "archs" in changes:
        changes["extra"] = ()
    return replace(grid, **changes)


def resolve_names(grid: Grid) -> Grid:
    """Check every backend, architecture and dataset name of ``grid`` against the registries,
    before anything runs, and return the grid with canonical dataset names (an upstream alias such
    as ``MMIDVS`` becomes ``mmi-dvs``).

    A *known* backend whose framework is missing is not an error here: its cells are recorded as
    skipped when the grid runs. A typo is. A name with wildcards (``"*"``, ``"lava*"``) stands for
    every registered name it matches, in registration order (the default grid's ``backends =
    ["*"]``: every backend, including third-party ones); a pattern matching nothing is an error.

    Raises:
        UnknownNameError: every unknown name, in one message, each with its close matches.
    """
    from backends.base import BACKENDS
    from backends.native.card import load_plugins
    from backends.specs import ARCHS
    from datasets.base import DATASETS
    from datasets.common import UnknownNameError

    load_plugins(grid.plugins)  # PluginError (exit 2) names the file
    problems: list[str] = []
    resolved: dict[str, list[str]] = {}
    for key, registry in (("backends", BACKENDS), ("run_backends", BACKENDS), ("archs", ARCHS),
                          ("datasets", DATASETS)):
        names = []
        for n in getattr(grid, key):
            if any(c in n for c in "*?["):
                matched = registry.names(n)
                if not matched:
                    problems.append(f"no {registry.kind} matches {n!r}; known: "
                                    f"{', '.join(registry.names())}")
                names.extend(matched)
                continue
            try:
                names.append(registry.resolve(n))
            except UnknownNameError as exc:
                problems.append(str(exc))
        resolved[key] = list(dict.fromkeys(names))
    extra = []
    for b, a in grid.extra:
        try:
            extra.append((BACKENDS.resolve(b), ARCHS.resolve(a)))
        except UnknownNameError as exc:
            problems.append(f"[[extra]] {b}/{a}: {exc}")
    if problems:
        raise UnknownNameError("\n".join(problems))
    return replace(grid, backends=tuple(resolved["backends"]), archs=tuple(resolved["archs"]),
                   datasets=tuple(resolved["datasets"]),
                   run_backends=tuple(resolved["run_backends"]), extra=tuple(extra))


class DatasetCheckFailed(InputError, RuntimeError):
    """``strict`` runs: a dataset of the grid failed its check; the message is the full report."""


def _skip_reasons(cells: list[Cell], data_root: Path, *, strict: bool = False) -> dict[Cell, str]:
    """Cells that cannot run, with the reason: unavailable backends, absent datasets, and datasets
    that fail :func:`datasets.check.check_dataset` (every problem of the dataset in the reason).

    Raises:
        DatasetCheckFailed: with ``strict``, a dataset that is absent or fails its check.
    """
    from backends.base import get_backend
    from datasets.base import DatasetNotFoundError
    from datasets.check import check_dataset

    reasons: dict[Cell, str] = {}
    backend_why: dict[str, str | None] = {}
    dataset_why: dict[str, str | None] = {}
    for c in cells:
        if c.backend not in backend_why:
            try:
                ok, why = get_backend(c.backend).available()
                backend_why[c.backend] = None if ok else f"backend {c.backend!r} unavailable: {why}"
            except Exception as exc:  # a broken adapter disables its cells only
                backend_why[c.backend] = (f"backend {c.backend!r} availability check failed: "
                                          f"{type(exc).__name__}: {exc}")
            if backend_why[c.backend]:
                log.warning("skipping the cells of %s", backend_why[c.backend])
        if c.dataset not in dataset_why:
            try:
                check = check_dataset(c.dataset, data_root)
                dataset_why[c.dataset] = None if check.ok else (
                    f"dataset {c.dataset!r} failed its check: {check.report()}")
            except DatasetNotFoundError as exc:
                dataset_why[c.dataset] = f"dataset {c.dataset!r} not available: {exc}"
            if dataset_why[c.dataset]:
                if strict:
                    raise DatasetCheckFailed(dataset_why[c.dataset])
                log.warning("skipping the cells of %s", dataset_why[c.dataset])
        why = backend_why[c.backend] or dataset_why[c.dataset] or _transfer_why(c)
        if why:
            reasons[c] = why
    return reasons


def _transfer_why(c: Cell) -> str | None:
    """Why a transfer cell (trained in A, run in B) cannot run, or ``None``."""
    if not c.transferred:
        return None
    from backends.base import get_backend
    from backends.specs import get_arch

    b = get_backend(c.run_backend)
    ok, why = b.available()
    if not ok:
        return f"run backend {c.run_backend!r} unavailable: {why}"
    if not b.spiking or not get_backend(c.backend).spiking:
        return f"transfer {c.backend} -> {c.run_backend}: only between spiking backends"
    if c.arch in getattr(b, "unsupported", {}):
        return f"run backend {c.run_backend!r} cannot compile {c.arch!r}: {b.unsupported[c.arch]}"
    if c.transfer_via == "nir":
        from backends.nir_exchange import nir_unsupported_reason

        reason = nir_unsupported_reason(get_arch(c.arch))
        if reason:
            return f"{c.arch!r} cannot travel through NIR: {reason}"
    return None


@dataclass
class GridSummary:
    """Counts of a grid run.

    ``elsewhere``: cells that another process (another ``run`` sharing the run folder, or a
    worker of an earlier run still going) was running or had recorded meanwhile; this run
    waited for them (see ``wait_for_others``) and did not run them itself.
    ``missing``: planned cells that have no record when the run ends (not interrupted): a hole
    that the command reports (exit 1) and ``validate`` finds.
    """

    done: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    interrupted: bool = False
    wall_time_s: float = 0.0
    executor: str = "local"

    def line(self) -> str:
        return (f"{len(self.done)} cells run, {len(self.resumed)} already recorded, "
                f"{len(self.failed)} failed, {len(self.skipped)} skipped"
                + (f", {len(self.elsewhere)} run by other processes" if self.elsewhere else "")
                + (f", {len(self.missing)} MISSING (no record)" if self.missing else "")
                + (" (interrupted)" if self.interrupted else "") + f" in {self.wall_time_s:.1f} s")


@dataclass(frozen=True)
class CellDone:
    """A cell that finished in this run, as :func:`run_grid` reports it to ``on_cell``.

    ``status``: ``"ok"``, ``"error"``, ``"died"`` (its worker died; recorded as an error),
    ``"skipped"`` or ``"elsewhere"`` (recorded by another process meanwhile); ``record_path``:
    the cell's record file (``RUN_DIR/cells/...json``, merged into ``results.jsonl``), ``None``
    when this process wrote none; ``war``: its WAR (0..1) or ``None``; ``time_s``: the record's
    ``timings_s.total_s`` or ``None``; ``reason``: the error or skip reason, or ``None``.
    """

    cell: Cell
    status: str
    record_path: Path | None = None
    war: float | None = None
    time_s: float | None = None
    reason: str | None = None

    @classmethod
    def from_record_file(cls, cell: Cell, status: str, path: Path | None) -> CellDone:
        """Read WAR, time and error of the record at ``path`` (fields left ``None`` if absent)."""
        import json

        rec: dict[str, Any] = {}
        if path is not None:
            try:
                rec = json.loads(path.read_text())
            except (OSError, ValueError):
                rec = {}
        war = (rec.get("metrics") or {}).get("war")
        total = (rec.get("timings_s") or {}).get("total_s")
        return cls(cell, status, path, war if isinstance(war, (int, float)) else None,
                   total if isinstance(total, (int, float)) else None, rec.get("error"))

    def line(self) -> str:
        """One line: status, the cell, WAR (%), time (s) and the record file (relative to the
        working folder when below it); an error or skip reason only by its first line, cut at 100
        characters (the full text is in the record)."""
        c = self.cell
        parts = [f"{self.status:<7}", f"{c.backend}/{c.arch} {c.dataset} f{c.fold} s{c.seed}"]
        if self.war is not None:
            parts.append(f"WAR {100 * self.war:5.1f} %")
        if self.time_s is not None:
            parts.append(f"{self.time_s:6.1f} s")
        if self.reason and self.status != "ok":
            first = self.reason.strip().splitlines()[0] if self.reason.strip() else ""
            parts.append(first if len(first) <= 100 else first[:99] + "…")
        if self.record_path is not None:
            try:  # relative to the working folder where it is below it
                shown = self.record_path.relative_to(Path.cwd())
            except ValueError:
                shown = self.record_path
            parts.append(f"record {shown}")
        return "  ".join(parts)


def run_grid(
    grid: Grid,
    run_dir: str | Path,
    data_root: str | Path,
    *,
    cell_runner: Callable[..., Record] | None = None,
    progress: bool = True,
    strict: bool = False,
    same_code_only: bool = False,
    executor: Executor | None = None,
    heartbeat_s: float = DEFAULT_HEARTBEAT_S,
    claim_timeout_s: float | None = None,
    wait_for_others: bool = True,
    cell_progress: bool | None = None,
    on_cell: Callable[[CellDone], None] | None = None,
) -> GridSummary:
    """Run every cell of ``grid`` not yet recorded in ``run_dir``, each exactly once even when
    several processes (or hosts) run the same grid into the same folder.

    Every cell is claimed before it runs and its record is written to ``RUN_DIR/cells/`` by
    whoever ran it, then merged into ``RUN_DIR/results.jsonl`` (:mod:`benchmarks.runner.claims`); the
    cells themselves run where ``executor`` puts them (:mod:`benchmarks.runner.executors`).

    Args:
        grid: the grid.
        run_dir: the run folder (``results.jsonl`` is merged there).
        data_root: where datasets live (the built-in one is generated there if absent).
        cell_runner: ``(cell, data_root, progress=...) -> Record``; default
            :func:`benchmarks.runner.cell.run_cell` (tests inject their own), which is also given
            ``checkpoint_dir=run_dir / "checkpoints"`` (each cell's model is saved there) and,
            when its signature has it, ``train_state_dir=run_dir / "train_state"``. With worker
            processes, Ray or Slurm it must be picklable (a module-level function).
        progress: show the grid's progress bar (one bar, cells done of cells to do).
        strict: stop (:class:`DatasetCheckFailed`) before any cell runs if a dataset is absent
            or fails its check; by default its cells are recorded as skipped with the full report
            and the sound datasets run.
        same_code_only: resume only cells recorded by this very code
            (:func:`benchmarks.results.provenance.code_version`: commit plus uncommitted changes); the
            gates use it so that they never pass on results of other code.
        executor: where the cells run (:class:`benchmarks.runner.executor_local.LocalExecutor`,
            ``RayExecutor``, ``SlurmExecutor``); default one local worker: the cells run one
            after another in this process.
        heartbeat_s: claim heartbeat interval, seconds.
        claim_timeout_s: a claim without heartbeat for this long is stale and its cell may run
            again (default four heartbeats).
        wait_for_others: when cells are being run by other processes, wait until they are
            recorded (and run here those whose claims go stale or whose worker dies, and those
            released without a record); otherwise leave them.
        cell_progress: show each cell's own bars (training epochs); default ``progress``.
        on_cell: called in this process with a :class:`CellDone` as each cell finishes (run
            here, skipped, or recorded by another process meanwhile); the command line prints
            its :meth:`CellDone.line`.

    Raises:
        UnknownNameError: an unknown backend, architecture or dataset (:func:`resolve_names`).
        DatasetCheckFailed: see ``strict``.
        ExecutorUnavailable: the executor cannot start (no Ray cluster at the address, no
            ``sbatch``), before any cell starts and before anything is written.

    Returns:
        A :class:`GridSummary`. ``KeyboardInterrupt`` stops the grid after recording nothing
        partial; finished cells stay on disk and ``interrupted`` is set. Before any cell runs,
        the grid's cell ids are written to the folder's plan
        (:func:`benchmarks.results.plan.write_plan`); planned cells still without a record at
        the end are listed in ``missing`` (logged as an error).
    """
    from tqdm.auto import tqdm

    grid = resolve_names(grid)  # a typo stops here, before the run folder is touched
    run_dir = Path(run_dir).absolute()
    data_root = Path(data_root).absolute()
    executor = executor or LocalExecutor()
    store = ClaimStore(run_dir, heartbeat_s, claim_timeout_s)
    summary = GridSummary(executor=executor.describe())
    t0 = time.perf_counter()
    cells = grid.cells()
    code = None
    if same_code_only:
        from benchmarks.results.provenance import code_version

        code = code_version() or "unknown code version"
    if run_dir.is_dir():
        merge_cell_records(run_dir)  # records of workers whose driver did not merge them
    done_ids = finished_cell_ids(run_dir, code_version=code)
    todo = []
    for c in cells:
        (summary.resumed if c.cell_id in done_ids else todo).append(c.cell_id if c.cell_id in done_ids else c)
    if summary.resumed:
        log.info("resuming: %d of %d cells already recorded in %s", len(summary.resumed), len(cells), run_dir)
    skip = _skip_reasons(todo, data_root, strict=strict) if todo else {}
    runnable = [c for c in todo if c not in skip]
    started = False
    bar = tqdm(total=len(todo), desc=f"grid {grid.name}", unit="cell", disable=not progress)

    def task_of(cell: Cell) -> CellTask:
        return CellTask(cell=cell, data_root=str(data_root), run_dir=str(run_dir),
                        owner=make_owner(executor.name), executor=executor.name, runner=cell_runner,
                        progress=progress if cell_progress is None else cell_progress,
                        threads=executor.threads(), heartbeat_s=store.heartbeat_s,
                        timeout_s=store.timeout_s, code_version=code)

    others: dict[str, Cell] = {}

    def report(done: CellDone) -> None:
        if on_cell is not None:
            on_cell(done)

    def on_done(task: CellTask, outcome: Outcome) -> None:
        cid = task.cell.cell_id
        path = run_dir / outcome.record_file if outcome.record_file else None
        if outcome.status == "died":
            log.error("cell %s: %s", cid, outcome.error)
            rec = status_record(task.cell, "error", outcome.error or "the worker died")
            path = write_record(task, rec, outcome.job_id, died=True)
            store.release_if_owner(cid, task.owner)
        if outcome.status in ("ok", "error", "died"):
            merge_cell_records(run_dir, store=store)
            (summary.done if outcome.status == "ok" else summary.failed).append(cid)
            bar.update(1)
            report(CellDone.from_record_file(task.cell, outcome.status, path))
        elif outcome.status == "done":
            summary.elsewhere.append(cid)
            bar.update(1)
            report(CellDone(task.cell, "elsewhere"))
        else:  # "running" (held by another live worker) or "lost" (taken over)
            log.info("cell %s is being run by another process (%s)", cid, outcome.holder or "?")
            others[cid] = task.cell

    try:
        if runnable:
            executor.start(runnable)  # a missing sbatch or dead Ray address stops here
            started = True
            log.info("running %d cell(s) on %s", len(runnable), executor.describe())
        run_dir.mkdir(parents=True, exist_ok=True)
        write_plan(run_dir, [c.cell_id for c in cells], command="run")
        for cell in todo:
            if cell in skip:
                path = _record_skipped(store, cell, skip[cell], executor.name)
                summary.skipped.append(cell.cell_id)
                bar.update(1)
                report(CellDone(cell, "skipped", path, reason=skip[cell]))
        batch = runnable
        while batch:
            bar.set_postfix_str(f"{len(batch)} cell(s) on {executor.name}")
            executor.run([task_of(c) for c in batch], on_done)
            if not (others and wait_for_others):
                break
            batch = _wait_for_others(store, others, summary, bar, report)
        if others and not wait_for_others:
            summary.elsewhere.extend(others)
    except KeyboardInterrupt:
        summary.interrupted = True
        log.warning("interrupted: finished cells are kept in %s; re-run the same command to resume", run_dir)
    finally:
        bar.close()
        if started:
            executor.close()
        if run_dir.is_dir():
            merge_cell_records(run_dir, store=store)
    if not summary.interrupted and run_dir.is_dir():
        held = set(others) if not wait_for_others else set()
        have = recorded_cell_ids(run_dir)
        summary.missing = [c.cell_id for c in cells if c.cell_id not in have and c.cell_id not in held]
        if summary.missing:
            log.error("%d planned cell(s) have no record in %s: %s", len(summary.missing), run_dir,
                      ", ".join(summary.missing))
    summary.wall_time_s = time.perf_counter() - t0
    return summary


def _record_skipped(store: ClaimStore, cell: Cell, reason: str, executor_name: str) -> Path | None:
    """Record a skipped cell (claimed, so that two runs do not both record it); return its record
    file, ``None`` when another process holds the cell."""
    owner = make_owner(executor_name)
    got = store.acquire(cell.cell_id, owner)
    if isinstance(got, Held):
        return None
    try:
        task = CellTask(cell=cell, data_root="", run_dir=str(store.run_dir), owner=owner,
                        executor=executor_name)
        path = write_record(task, status_record(cell, "skipped", reason))
        merge_cell_records(store.run_dir, store=store)
    finally:
        got.release()
    return path


def _wait_for_others(store: ClaimStore, others: dict[str, Cell], summary: GridSummary,
                     bar: Any, report: Callable[[CellDone], None] = lambda done: None) -> list[Cell]:
    """Wait while other processes hold claims on ``others`` (:func:`wait_for_holders`); return
    the cells to run here: those whose claims went stale or whose worker died, and those
    released without any record (the other process was interrupted). A claim that turns done
    counts as run elsewhere; one released after an error record is left to a later resume."""
    log.info("waiting for %d cell(s) run by other processes", len(others))
    while others:
        changed = wait_for_holders(store, others)
        have = recorded_cell_ids(store.run_dir) if "released" in changed.values() else set()
        again = []
        for cid, what in changed.items():
            cell = others.pop(cid)
            if what == "done":
                summary.elsewhere.append(cid)
                bar.update(1)
                report(CellDone(cell, "elsewhere"))
            elif what == "released" and cid in have:
                log.info("cell %s: the other process recorded it as failed; re-run to retry it", cid)
                bar.update(1)
            else:
                again.append(cell)
        if again:
            return again
    merge_cell_records(store.run_dir, store=store)
    return []
