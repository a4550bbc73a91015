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

The runner appends one record per cell to ``RUN_DIR/results.jsonl``, skips cells already recorded
(resume), records a failing cell as ``status: "error"`` and carries on, skips the cells of an
unavailable backend or an absent dataset with a logged reason (recorded as ``status: "skipped"``),
and stops cleanly on Ctrl-C without losing a finished cell.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.provenance import provenance
from benchmarks.records import Record, append_record, finished_cell_ids
from benchmarks.spec import Cell, Recipe
from datasets.common import InputError

log = logging.getLogger(__name__)

GRIDS_DIR = Path(__file__).resolve().parent / "grids"
_GRID_KEYS = {"name", "description", "datasets", "backends", "archs", "folds", "seeds", "protocol",
              "device", "recipe"}


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

    def cells(self) -> list[Cell]:
        """All cells, datasets outermost and backends innermost (so a dataset is binned once)."""
        return [
            Cell(dataset=d, backend=b, arch=a, fold=f, seed=s, protocol=self.protocol,
                 device=self.device, recipe=self.recipe)
            for d in self.datasets
            for a in self.archs
            for f in self.folds
            for s in self.seeds
            for b in self.backends
        ]


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
    for key in ("datasets", "backends", "archs", "folds", "seeds"):
        if key in data:
            val = data.pop(key)
            if not isinstance(val, list) or not val:
                raise GridFileError(f"{path}: {key} must be a non-empty list, got {val!r}")
            kwargs[key] = tuple(val)
    kwargs.update(data)
    return Grid(**kwargs)


def override(grid: Grid, **opts: Any) -> Grid:
    """Return ``grid`` with the non-``None`` options replaced (``epochs``/``batch_size`` go to the
    recipe; list options become tuples)."""
    recipe_opts = {k: opts.pop(k) for k in list(opts) if k in Recipe.__dataclass_fields__}
    recipe_opts = {k: v for k, v in recipe_opts.items() if v is not None}
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in opts.items() if v is not None}
    if recipe_opts:
        changes["recipe"] = replace(grid.recipe, **recipe_opts)
    return replace(grid, **changes)


def resolve_names(grid: Grid) -> Grid:
    """Check every backend, architecture and dataset name of ``grid`` against the registries,
    before anything runs, and return the grid with canonical dataset names (an upstream alias such
    as ``MMIDVS`` becomes ``mmi-dvs``).

    A *known* backend whose framework is missing is not an error here: its cells are recorded as
    skipped when the grid runs. A typo is.

    Raises:
        UnknownNameError: every unknown name, in one message, each with its close matches.
    """
    from backends.base import BACKENDS
    from backends.specs import ARCHS
    from datasets.base import DATASETS
    from datasets.common import UnknownNameError

    problems: list[str] = []
    resolved: dict[str, list[str]] = {}
    for key, registry in (("backends", BACKENDS), ("archs", ARCHS), ("datasets", DATASETS)):
        names = []
        for n in getattr(grid, key):
            try:
                names.append(registry.resolve(n))
            except UnknownNameError as exc:
                problems.append(str(exc))
        resolved[key] = names
    if problems:
        raise UnknownNameError("\n".join(problems))
    return replace(grid, backends=tuple(resolved["backends"]), archs=tuple(resolved["archs"]),
                   datasets=tuple(dict.fromkeys(resolved["datasets"])))


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
        why = backend_why[c.backend] or dataset_why[c.dataset]
        if why:
            reasons[c] = why
    return reasons


@dataclass
class GridSummary:
    """Counts of a grid run."""

    done: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False
    wall_time_s: float = 0.0

    def line(self) -> str:
        return (f"{len(self.done)} cells run, {len(self.resumed)} already recorded, "
                f"{len(self.failed)} failed, {len(self.skipped)} skipped"
                + (" (interrupted)" if self.interrupted else "") + f" in {self.wall_time_s:.1f} s")


def run_grid(
    grid: Grid,
    run_dir: str | Path,
    data_root: str | Path,
    *,
    cell_runner: Callable[..., Record] | None = None,
    progress: bool = True,
    strict: bool = False,
    same_code_only: bool = False,
) -> GridSummary:
    """Run every cell of ``grid`` not yet recorded in ``run_dir``.

    Args:
        grid: the grid.
        run_dir: the run folder (``results.jsonl`` is appended there).
        data_root: where datasets live (the built-in one is generated there if absent).
        cell_runner: ``(cell, data_root, progress=...) -> Record``; default
            :func:`benchmarks.cell.run_cell` (tests inject their own), which is also given
            ``checkpoint_dir=run_dir / "checkpoints"`` and saves each cell's model there.
        progress: show progress bars.
        strict: stop (:class:`DatasetCheckFailed`) before any cell runs if a dataset is absent
            or fails its check; by default its cells are recorded as skipped with the full report
            and the sound datasets run.
        same_code_only: resume only cells recorded by this very code
            (:func:`benchmarks.provenance.code_version`: commit plus uncommitted changes); the
            gates use it so that they never pass on results of other code.

    Raises:
        UnknownNameError: an unknown backend, architecture or dataset (:func:`resolve_names`).
        DatasetCheckFailed: see ``strict``.

    Returns:
        A :class:`GridSummary`. ``KeyboardInterrupt`` stops the grid after recording nothing
        partial; finished cells stay on disk and ``interrupted`` is set.
    """
    from tqdm.auto import tqdm

    grid = resolve_names(grid)  # a typo stops here, before the run folder is touched
    run_dir = Path(run_dir)
    runner_kwargs: dict[str, Any] = {}
    if cell_runner is None:  # the default runner saves each cell's model under RUN_DIR/checkpoints
        from benchmarks.cell import run_cell as cell_runner

        runner_kwargs["checkpoint_dir"] = run_dir / "checkpoints"
    data_root = Path(data_root)
    run_dir.mkdir(parents=True, exist_ok=True)
    summary = GridSummary()
    t0 = time.perf_counter()
    cells = grid.cells()
    code = None
    if same_code_only:
        from benchmarks.provenance import code_version

        code = code_version() or "unknown code version"
    done_ids = finished_cell_ids(run_dir, code_version=code)
    todo = []
    for c in cells:
        (summary.resumed if c.cell_id in done_ids else todo).append(c.cell_id if c.cell_id in done_ids else c)
    if summary.resumed:
        log.info("resuming: %d of %d cells already recorded in %s", len(summary.resumed), len(cells), run_dir)
    skip = _skip_reasons(todo, data_root, strict=strict) if todo else {}
    bar = tqdm(todo, desc=f"grid {grid.name}", unit="cell", disable=not progress)
    try:
        for cell in bar:
            bar.set_postfix_str(f"{cell.backend}/{cell.arch} {cell.dataset} f{cell.fold} s{cell.seed}")
            if cell in skip:
                append_record(run_dir, Record.for_cell(cell, "skipped", error=skip[cell],
                                                       provenance=provenance(None, cell.device)))
                summary.skipped.append(cell.cell_id)
                continue
            try:
                record = cell_runner(cell, data_root, progress=progress, **runner_kwargs)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                log.error("cell %s failed: %s: %s", cell.cell_id, type(exc).__name__, exc)
                record = Record.for_cell(cell, "error", error=f"{type(exc).__name__}: {exc}",
                                         traceback=traceback.format_exc(limit=8),
                                         provenance=provenance(None, cell.device))
            append_record(run_dir, record)
            (summary.done if record.status == "ok" else summary.failed).append(cell.cell_id)
    except KeyboardInterrupt:
        summary.interrupted = True
        log.warning("interrupted: finished cells are kept in %s; re-run the same command to resume", run_dir)
    finally:
        bar.close()
    summary.wall_time_s = time.perf_counter() - t0
    return summary
