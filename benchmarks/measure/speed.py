"""Framework speed table: each backend's training step and inference on the same workloads.

Workloads:

(a) the field's public framework benchmark (the Open Neuromorphic SNN framework benchmark: one
    Linear layer followed by one LIF layer, 500 time steps, batch 16, 512 to 16,384 neurons),
    written here as a spec every backend compiles through its own ``build``: a
    :class:`backends.specs.ConvNetSpec` without convolutions whose input frames ``(T, 2, H, W)``
    flatten to ``N = 2 H W`` features, one hidden :class:`~backends.specs.DenseLayer` of ``N``
    LIF neurons (beta 0.5, threshold 1, zero reset, ATan) and a 10-class readout (the readout
    is the suite's time-averaged bias-free linear layer, ``10 N`` more weights: small next to the
    ``N^2`` of the benchmark's layer);
(b) the suite's architectures (``tiny``, ``sew_resnet18``) at their own input sizes.

Each framework runs in its fastest mode as its adapter configures it (e.g. spikingjelly's kernel
for the device); on CUDA every timing is bracketed by ``torch.cuda.synchronize()``. Before timing,
every spiking backend's spikes are compared with the snntorch backend's on the same weights and
input (:func:`backends.equality.spike_agreement`); the table says what was checked.

Times are the median of ``repeats`` calls after one warm-up call, in milliseconds. On CPU the sizes
are capped at 4,096 neurons so that the table finishes in minutes. Not part of CI
(``run_bench.py speed``; the GPU check script runs a section of it on CUDA).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NEURONS = (512, 1024, 2048, 4096, 8192, 16384)
CPU_MAX_NEURONS = 4096
LINEAR_LIF_STEPS = 500
LINEAR_LIF_BATCH = 16
READOUT_CLASSES = 10


def linear_lif_spec(n_neurons: int, steps: int = LINEAR_LIF_STEPS):
    """The benchmark's Linear + LIF layer as a spec: input ``(steps, 2, 16, n/32)`` frames (``n``
    features), ``Linear(n, n)`` + LIF, readout ``Linear(n, 10)``.

    Raises:
        ValueError: ``n_neurons`` not a positive multiple of 32.
    """
    from backends.specs import ConvNetSpec, DenseLayer, NeuronSpec

    if n_neurons < 32 or n_neurons % 32:
        raise ValueError(f"n_neurons must be a positive multiple of 32, got {n_neurons}")
    return ConvNetSpec(
        name=f"linear_lif_{n_neurons}", input_size=(16, n_neurons // 32), n_time_bins=steps,
        convs=(), denses=(DenseLayer("fc1", n_neurons), DenseLayer("readout", READOUT_CLASSES)),
        neuron=NeuronSpec(model="lif", beta=0.5, threshold=1.0, reset="zero"),
    )


def _sync(device: str):
    import torch

    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _median_ms(fn, repeats: int, sync) -> float:
    fn()  # warm-up (allocator, kernels, lazy init)
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


@dataclass
class SpeedRow:
    """One table row (times in ms; ``None`` where the backend could not run the workload)."""

    workload: str
    neurons: int | None
    backend: str
    batch: int
    inference_ms: float | None
    train_step_ms: float | None
    spikes_checked: str
    note: str = ""


def time_backend(backend_name: str, spec: Any, batch: int, device: str, repeats: int,
                 reference: Any = None) -> SpeedRow:
    """Time one backend on one spec: inference (no grad) and one training step (forward, cross
    entropy, backward, SGD step). ``reference``: ``(backend, model)`` of snntorch to compare
    spikes with first. Never raises: a failure becomes the row's note."""
    import torch

    from backends.base import get_backend
    from backends.equality import copy_weights, spike_agreement

    workload = spec.name
    neurons = spec.denses[0].out_features if not spec.convs else None
    row = SpeedRow(workload, neurons, backend_name, batch, None, None, "—")
    try:
        backend = get_backend(backend_name)
        ok, why = backend.available()
        if not ok:
            row.note = f"unavailable: {why}"
            return row
        shape = (spec.n_time_bins, 2, *spec.input_size)
        torch.manual_seed(0)
        model = backend.build(spec, shape, READOUT_CLASSES).to(device)
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(batch, *shape, generator=g) < 0.2).float().to(device)
        y = torch.randint(0, READOUT_CLASSES, (batch,), generator=g).to(device)
        if reference is not None and backend.spiking and backend_name != reference[0].name:
            try:
                copy_weights(reference[1], model)
                ag = spike_agreement(reference[0], reference[1], backend, model, x[:2])
                row.spikes_checked = f"{ag.min_agreement:.4f} identical (min over layers)"
            except ValueError as exc:
                row.spikes_checked = f"not compared ({str(exc)[:40]}...)"
        elif backend_name == "snntorch":
            row.spikes_checked = "reference"
        sync = _sync(device)
        model.eval()

        def infer():
            with torch.no_grad():
                backend.forward(model, x)

        row.inference_ms = _median_ms(infer, repeats, sync)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        model.train()

        def step():
            loss = torch.nn.functional.cross_entropy(backend.forward(model, x).logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        row.train_step_ms = _median_ms(step, repeats, sync)
    except Exception as exc:  # one backend's failure is a note in the table, not the end
        log.warning("speed %s/%s failed: %s", backend_name, workload, exc)
        row.note = f"{type(exc).__name__}: {str(exc)[:120]}"
    return row


def run_speed(out_dir: str | Path, *, device: str = "cpu", backends: list[str] | None = None,
              neurons: tuple[int, ...] | None = None, archs: tuple[str, ...] = ("tiny", "sew_resnet18"),
              arch_batch: int = 8, repeats: int = 3, steps: int = LINEAR_LIF_STEPS) -> list[SpeedRow]:
    """Time every backend on workloads (a) and (b); write ``speed.md`` and ``speed.png`` into
    ``out_dir``.

    Args:
        device: torch device; on CPU the neuron counts stop at :data:`CPU_MAX_NEURONS`.
        backends: names (default: every registered backend).
        neurons: sizes of workload (a) (default :data:`NEURONS`, capped on CPU).
        archs: the architectures of workload (b) (``()`` to skip it).
        arch_batch: batch size of workload (b).
        repeats: timed calls per measurement (median reported).
        steps: time steps of workload (a) (500 as in the public benchmark).

    Returns:
        The rows, also written as a markdown table.
    """
    from backends.base import backend_names, get_backend
    from backends.specs import get_arch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = backends or backend_names()
    sizes = neurons or tuple(n for n in NEURONS if device.startswith("cuda") or n <= CPU_MAX_NEURONS)
    rows: list[SpeedRow] = []
    specs = [(linear_lif_spec(n, steps), LINEAR_LIF_BATCH) for n in sizes]
    specs += [(get_arch(a), arch_batch) for a in archs]
    for spec, batch in specs:
        reference = None
        try:
            import torch

            sn = get_backend("snntorch")
            shape = (spec.n_time_bins, 2, *spec.input_size)
            torch.manual_seed(0)
            reference = (sn, sn.build(spec, shape, READOUT_CLASSES).to(device))
        except Exception as exc:
            log.warning("no snntorch reference for %s: %s", spec.name, exc)
        for b in names:
            row = time_backend(b, spec, batch, device, repeats, reference)
            log.info("%s %s: inference %s ms, train step %s ms", spec.name, b,
                     row.inference_ms, row.train_step_ms)
            rows.append(row)
    (out / "speed.md").write_text(render_speed_table(rows, device=device))
    _plot(rows, out / "speed.png")
    return rows


def render_speed_table(rows: list[SpeedRow], *, device: str) -> str:
    """The markdown table of :func:`run_speed`."""
    from tabulate import tabulate

    def f(v):
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"

    table = [[r.workload, r.neurons or "", r.backend, r.batch, f(r.inference_ms), f(r.train_step_ms),
              r.spikes_checked, r.note] for r in rows]
    head = ["workload", "neurons", "backend", "batch", "inference (ms)", "train step (ms)",
            "spikes vs snntorch", "note"]
    return (f"# Framework speed ({device})\n\nMedian of the timed calls after one warm-up; "
            "train step = forward + cross entropy + backward + SGD step.\n\n"
            + tabulate(table, head, tablefmt="github", disable_numparse=True) + "\n")


def _plot(rows: list[SpeedRow], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for b in sorted({r.backend for r in rows}):
        pts = sorted((r.neurons, r.train_step_ms) for r in rows
                     if r.backend == b and r.neurons and r.train_step_ms)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=b)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("neurons (Linear + LIF, 500 steps, batch 16)")
    ax.set_ylabel("train step (ms)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
