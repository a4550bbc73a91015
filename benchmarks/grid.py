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

from benchmarks.cell import Cell, Recipe
from benchmarks.records import SCHEMA_VERSION, append_record, finished_cell_ids

log = logging.getLogger(__name__)

GRIDS_DIR = Path(__file__).resolve().parent / "grids"
_GRID_KEYS = {"name", "description", "datasets", "backends", "archs", "folds", "seeds", "protocol",
              "device", "recipe"}


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
        FileNotFoundError: no such file or grid name (lists the known names).
        ValueError: an unknown key or an invalid value (names the file and the key).
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = Path(name_or_path)
    if not path.is_file():
        path = GRIDS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise FileNotFoundError(f"no grid file {name_or_path!r}; known grids: {', '.join(grid_names())}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from exc
    unknown = sorted(set(data) - _GRID_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: {sorted(_GRID_KEYS)}")
    try:
        recipe = Recipe.from_dict(data.pop("recipe", {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: [recipe]: {exc}") from exc
    kwargs: dict[str, Any] = {"name": data.pop("name", path.stem), "recipe": recipe}
    for key in ("datasets", "backends", "archs", "folds", "seeds"):
        if key in data:
            val = data.pop(key)
            if not isinstance(val, list) or not val:
                raise ValueError(f"{path}: {key} must be a non-empty list, got {val!r}")
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


def _base_record(cell: Cell) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": "trained", "method": None,
            "cell_id": cell.cell_id, "cell": cell.to_dict()}


def _skip_reasons(cells: list[Cell], data_root: Path) -> dict[Cell, str]:
    """Cells that cannot run: unavailable backends and absent datasets, with the reason."""
    from backends.base import UnknownNameError, get_backend
    from benchmarks.data import open_dataset_cached
    from datasets.base import DatasetNotFoundError

    reasons: dict[Cell, str] = {}
    backend_why: dict[str, str | None] = {}
    dataset_why: dict[str, str | None] = {}
    for c in cells:
        if c.backend not in backend_why:
            try:
                ok, why = get_backend(c.backend).available()
                backend_why[c.backend] = None if ok else f"backend {c.backend!r} unavailable: {why}"
            except UnknownNameError as exc:
                backend_why[c.backend] = str(exc)
            except Exception as exc:  # a broken adapter disables its cells only
                backend_why[c.backend] = (f"backend {c.backend!r} adapter failed to import: "
                                          f"{type(exc).__name__}: {exc}")
            if backend_why[c.backend]:
                log.warning("skipping the cells of %s", backend_why[c.backend])
        if c.dataset not in dataset_why:
            try:
                open_dataset_cached(c.dataset, data_root)
                dataset_why[c.dataset] = None
            except (DatasetNotFoundError, KeyError) as exc:
                dataset_why[c.dataset] = f"dataset {c.dataset!r} not available: {exc}"
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
    cell_runner: Callable[..., dict[str, Any]] | None = None,
    progress: bool = True,
) -> GridSummary:
    """Run every cell of ``grid`` not yet recorded in ``run_dir``.

    Args:
        grid: the grid.
        run_dir: the run folder (``results.jsonl`` is appended there).
        data_root: where datasets live (the built-in one is generated there if absent).
        cell_runner: ``(cell, data_root, progress=...) -> record``; default
            :func:`benchmarks.cell.run_cell` (tests inject their own), which is also given
            ``checkpoint_dir=run_dir / "checkpoints"`` and saves each cell's model there.
        progress: show progress bars.

    Returns:
        A :class:`GridSummary`. ``KeyboardInterrupt`` stops the grid after recording nothing
        partial; finished cells stay on disk and ``interrupted`` is set.
    """
    from tqdm.auto import tqdm

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
    done_ids = finished_cell_ids(run_dir)
    todo = []
    for c in cells:
        (summary.resumed if c.cell_id in done_ids else todo).append(c.cell_id if c.cell_id in done_ids else c)
    if summary.resumed:
        log.info("resuming: %d of %d cells already recorded in %s", len(summary.resumed), len(cells), run_dir)
    skip = _skip_reasons(todo, data_root) if todo else {}
    bar = tqdm(todo, desc=f"grid {grid.name}", unit="cell", disable=not progress)
    try:
        for cell in bar:
            bar.set_postfix_str(f"{cell.backend}/{cell.arch} {cell.dataset} f{cell.fold} s{cell.seed}")
            if cell in skip:
                append_record(run_dir, {**_base_record(cell), "status": "skipped", "error": skip[cell]})
                summary.skipped.append(cell.cell_id)
                continue
            try:
                record = cell_runner(cell, data_root, progress=progress, **runner_kwargs)
                record.setdefault("schema_version", SCHEMA_VERSION)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                log.error("cell %s failed: %s: %s", cell.cell_id, type(exc).__name__, exc)
                record = {**_base_record(cell), "status": "error",
                          "error": f"{type(exc).__name__}: {exc}",
                          "traceback": traceback.format_exc(limit=8)}
            append_record(run_dir, record)
            (summary.done if record["status"] == "ok" else summary.failed).append(cell.cell_id)
    except KeyboardInterrupt:
        summary.interrupted = True
        log.warning("interrupted: finished cells are kept in %s; re-run the same command to resume", run_dir)
    finally:
        bar.close()
    summary.wall_time_s = time.perf_counter() - t0
    return summary
