"""Per-loss training cost: ``ssibench bench --losses mc,ssdu [--precision fp32,bf16] [overrides]``.

A benchmark, not a test. For each loss, the config is composed exactly as ``launch.py`` would
(Hydra overrides after the options, e.g. ``physics=noisy debug=smoke trainer.device=cuda``), the
measurements come from the run's data pipeline (its cache), and every trainer, the bare one too, is
built from the run's own parts (``assemble``; ours through ``build_trainer``), so what is timed is
what a run trains.

What is measured: one *step* is one call of the trainer's own ``Trainer.step`` on one training
batch: fetching the batch from the DataLoader (the *data time*, timed around ``get_samples``), the
model's forward, the losses, the backward and the optimizer step (for the adversarial losses, the
generator's and the discriminator's). Steps are timed after ``--warmup`` untimed steps per
configuration (these also absorb torch.compile's compilation), and the reported time is the median
of ``--steps`` steps. The configurations of one loss are measured in ``--rounds`` interleaved rounds,
so contention or frequency drift on the machine affects them alike and their ratios stay meaningful.

The baseline is a bare deepinv Trainer (``AdversarialTrainer`` for the adversarial losses) doing
what the original benchmark's script does: the same model (same initial weights), loss terms,
optimizer, physics, data, batch size and device, in fp32, fed by a plain shuffled DataLoader, with
no metrics, checkpoints or progress bar. ``time ÷ bare`` is a configuration's step time over the
baseline's (below 1: faster).

``--evaluation`` measures instead what evaluating an epoch adds (issue: validation and model selection):
for each loss, the run's own trainer (with its validation and test batches) times its validation pass
(the held-out k-space criterion and the oracle's metrics, :mod:`ssibench.evaluation.validation`), its
test pass, and a training epoch (its batches × the median step), each the median of ``--rounds``.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` while the configuration stepped (it also
counts the other configurations' resident weights); on the CPU the process's maximum resident set
size so far (``resource``), which only grows, so on the CPU it bounds the run from above.
"""

from __future__ import annotations

import argparse
import csv
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import deepinv as dinv
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from ssibench.config.context import CONF, RunContext, compose_config
from ssibench.data.measurement_cache import cache_key, simulate_measurements
from ssibench.data.pipeline import Measurements, loaders, measurements
from ssibench.parts.assembly import assemble
from ssibench.parts.scenarios import build_scenario
from ssibench.run import skip_reason
from ssibench.training.build import build_trainer
from ssibench.training.cost_meter import device_model
from ssibench.training.precision import PRECISIONS

COLUMNS = [
    *("loss", "config", "s_per_step", "images_per_s", "peak_mb", "data_fraction", "time_vs_bare"),
    *("tflops", "of_matmul"),
]


class _Endless:
    """Batches of a DataLoader without end: a new epoch starts when one ends (counted as data time)."""

    def __init__(self, loader: DataLoader):
        self.loader, self.batches = loader, iter(loader)

    def __next__(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)


class _Timed:
    """A trainer ready to step, recording each step's total and data seconds."""

    def __init__(self, trainer, device: torch.device):
        self.trainer, self.device = trainer, device
        self.step_seconds: list[float] = []
        self.data_seconds: list[float] = []
        self.peak_bytes = 0
        self._data = 0.0  # data seconds of the current step
        trainer.verbose = False
        trainer.setup_train()
        trainer.current_train_iterators = [_Endless(loader) for loader in trainer.train_dataloader]
        trainer.model.train()
        fetch = trainer.get_samples

        def timed_fetch(iterators, g):
            start = time.perf_counter()
            samples = fetch(iterators, g)
            self._sync()
            self._data += time.perf_counter() - start
            return samples

        trainer.get_samples = timed_fetch

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def run(self, steps: int, record: bool = True) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        for _ in range(steps):
            self._data = 0.0
            self._sync()
            start = time.perf_counter()
            self.trainer.step(0, None, train=True)
            self._sync()
            if record:
                self.step_seconds.append(time.perf_counter() - start)
                self.data_seconds.append(self._data)
        if self.device.type == "cuda":
            self.peak_bytes = max(self.peak_bytes, torch.cuda.max_memory_allocated(self.device))
        else:  # kilobytes on Linux
            self.peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def count_flops(self) -> float:
        """Floating-point operations of one step (forward, losses, backward), counted once by
        ``FlopCounterMode`` (matrix products and convolutions; FFTs and elementwise ops count 0)."""
        with FlopCounterMode(display=False) as counter:
            self.trainer.step(0, None, train=True)
        self._sync()
        return float(counter.get_total_flops())


def matmul_rate(device: torch.device, seconds: float = 1.0) -> tuple[str, float]:
    """The FLOP/s of a large matrix product on ``device``, measured here: bf16 on CUDA (the tensor
    cores' rate), fp32 on the CPU. What a step's FLOP/s is a fraction of."""
    dtype, n = (torch.bfloat16, 8192) if device.type == "cuda" else (torch.float32, 2048)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    torch.mm(a, b)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        done += 1
    return f"{str(dtype).removeprefix('torch.')} matmul", 2 * n**3 * done / (time.perf_counter() - start)


def _bare_trainer(cfg: DictConfig, data: Measurements, device: torch.device):
    """A plain deepinv Trainer of the run's parts (model, losses, optimizer; fp32, a plain DataLoader)."""
    parts = assemble(cfg, data, device)
    adversarial = {}
    trainer_class = dinv.Trainer
    if parts.adversarial:
        trainer_class = dinv.training.AdversarialTrainer
        adversarial = {"D": parts.discriminator, "losses_d": parts.losses_d, "optimizer_step_multi_dataset": False}
    return trainer_class(
        model=parts.model,
        physics=data.physics,
        optimizer=parts.optimizer,
        losses=parts.losses,
        **adversarial,
        train_dataloader=DataLoader(data.train, batch_size=cfg.trainer.batch_size, shuffle=True),
        epochs=1,
        device=cfg.trainer.device,
        online_measurements=False,
        compute_train_metrics=False,  # as the benchmark's trainer: the training data hold no ground truth to score
        save_path=None,
        verbose=False,
        show_progress_bar=False,
    )


def configurations(precisions: list[str], compile: bool, channels_last: bool) -> list[tuple[str, list[str], bool]]:
    """``(name, overrides, channels_last)`` of each configuration to measure besides the baseline."""
    found = []
    for precision in precisions:
        found.append((precision, [f"trainer.precision={precision}"], False))
        if compile:
            found.append((f"{precision}+compile", [f"trainer.precision={precision}", "trainer.compile=true"], False))
        if channels_last:
            found.append((f"{precision}+channels_last", [f"trainer.precision={precision}"], True))
    return found


def bench_loss(
    loss: str, overrides: list[str], configs, steps: int, warmup: int, rounds: int, workdir: Path, reference: float
) -> list[dict]:
    """The rows of one loss: the bare-deepinv baseline, then each configuration."""
    cfg = compose_config([*overrides, f"loss={loss}", "trainer.show_progress_bar=false"], workdir)
    context = RunContext.from_hydra(cfg)
    skip = skip_reason(cfg, context)
    if skip or not cfg.loss.get("losses"):
        print(f"[bench] {loss}: not measured ({skip[0] if skip else 'nothing to train'})", file=sys.stderr)
        return []
    data = measurements(cfg, context)
    device = torch.device(cfg.trainer.device)
    timed = {"bare deepinv (fp32)": _Timed(_bare_trainer(cfg, data, device), device)}
    for name, extra, channels_last in configs:
        cfg = compose_config([*overrides, f"loss={loss}", "trainer.show_progress_bar=false", *extra], workdir)
        parts = assemble(cfg, data, device)
        train_loader = loaders(cfg, data, parts.streams).train
        trainer = build_trainer(cfg, parts, data.physics, train_loader, None)
        if channels_last:
            trainer.model.to(memory_format=torch.channels_last)
        timed[name] = _Timed(trainer, device)
    flops = {name: each.count_flops() for name, each in timed.items()}  # once per configuration, untimed
    for each in timed.values():
        each.run(warmup, record=False)
    per_round = max(1, steps // rounds)
    for _ in range(rounds):
        for each in timed.values():
            each.run(per_round)
    bare = statistics.median(timed["bare deepinv (fp32)"].step_seconds)
    rows = []
    for name, each in timed.items():
        step = statistics.median(each.step_seconds)
        rows.append(
            {
                "loss": loss,
                "config": name,
                "s_per_step": step,
                "images_per_s": cfg.trainer.batch_size / step,
                "peak_mb": each.peak_bytes / 2**20,
                "data_fraction": sum(each.data_seconds) / sum(each.step_seconds),
                "time_vs_bare": step / bare,
                "tflops": flops[name] / step / 1e12,
                "of_matmul": flops[name] / step / reference,
            }
        )
    return rows


def evaluation_seconds(loss: str, overrides: list[str], rounds: int, workdir: Path) -> dict | None:
    """Median seconds of one validation pass, one test pass and one training epoch of the run of
    ``loss``, built as ``run`` builds it; None for a loss that trains nothing or is not run."""
    from ssibench.evaluation.validation import HeldOutKspace, Validation

    cfg = compose_config([*overrides, f"loss={loss}", "trainer.show_progress_bar=false"], workdir)
    context = RunContext.from_hydra(cfg)
    if skip_reason(cfg, context) or not cfg.loss.get("losses"):
        return None
    data = measurements(cfg, context)
    parts = assemble(cfg, data, cfg.trainer.device)
    batches = loaders(cfg, data, parts.streams)
    if batches.validation is None or batches.test is None:
        raise SystemExit("bench --evaluation: the run needs a validation set (split.val_fraction > 0) and test data")
    kspace, names = HeldOutKspace(cfg.seed), list(parts.metrics)
    validation = Validation(batches.validation, kspace, data.validation_ground_truth, names)
    trainer = build_trainer(cfg, parts, data.physics, batches.train, batches.test, validation=validation)
    device = torch.device(cfg.trainer.device)
    timed = _Timed(trainer, device)
    timed.run(3, record=False)
    timed.run(max(5, len(batches.train)))
    step = statistics.median(timed.step_seconds)

    def median_seconds(work) -> float:
        seconds = []
        for _ in range(rounds):
            timed._sync()
            start = time.perf_counter()
            work()
            timed._sync()
            seconds.append(time.perf_counter() - start)
        return statistics.median(seconds)

    def validate():
        with parts.streams.isolated():
            validation.score(trainer)

    return {
        "loss": loss, "n_train": len(data.train), "n_val": len(validation), "n_test": len(data.test),
        "train_epoch_s": step * len(batches.train), "validation_s": median_seconds(validate),
        "test_s": median_seconds(lambda: trainer._test_scores(0, 0)),
    }


def cache_seconds(overrides: list[str], batch_sizes: list[int], workdir: Path) -> list[dict]:
    """Seconds to simulate the scenario's measurement cache at each batch size (fresh files)."""
    cfg = compose_config(overrides, workdir)
    train_images, test_images = instantiate(cfg.split)(instantiate(cfg.dataset))
    rows = []
    for batch_size in batch_sizes:
        physics, generator = build_scenario(cfg.physics, cfg.seed, device="cpu")  # where caches are made
        generator = None if cfg.physics.get("fixed_mask", False) else generator
        path = workdir / f"cache-{batch_size}-{len(rows)}.h5"
        start = time.perf_counter()
        simulate_measurements(path, cache_key(cfg), train_images, test_images, physics, generator, batch_size, False)
        seconds = time.perf_counter() - start
        rows.append({"batch_size": batch_size, "images": len(train_images) + len(test_images), "seconds": seconds})
    return rows


def machine(device: str) -> str:
    """The machine in words, for the table's caption."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device_model(device)}, torch {torch.__version__}"
    return f"{device_model(device)} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def table_rows(rows: list[dict]) -> list[str]:
    return [
        f"| {r['loss']} | {r['config']} | {r['s_per_step']:.4f} | {r['images_per_s']:.1f} | {r['peak_mb']:.0f} "
        f"| {100 * r['data_fraction']:.1f}% | {r['time_vs_bare']:.2f}× | {r['tflops']:.3g} | {100 * r['of_matmul']:.1f}% |"
        for r in rows
    ]


def markdown(rows: list[dict], caption: str, reference: str) -> str:
    header = [
        f"| loss | config | s/step | images/s | peak MB | data time | time ÷ bare deepinv | TFLOP/s | of {reference} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join([caption, "", *header, *table_rows(rows)]) + "\n"


def _losses(spec: str) -> list[str]:
    known = sorted(path.stem for path in (CONF / "loss").glob("*.yaml"))
    chosen = known if spec == "all" else spec.split(",")
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise SystemExit(f"bench: unknown loss {', '.join(unknown)}; choose from all, {', '.join(known)}")
    return chosen


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        prog="ssibench bench",
        description="Seconds per training step of each loss, against a bare deepinv Trainer (see the module doc).",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides as for launch.py, e.g. physics=noisy debug=smoke")
    parser.add_argument("--losses", default="mc", help="comma-separated loss choices, or all (default: mc)")
    parser.add_argument(
        "--precision", default="fp32", help=f"comma-separated, of {','.join(PRECISIONS)} (default: fp32)"
    )
    parser.add_argument("--compile", action="store_true", help="also measure each precision with trainer.compile=true")
    parser.add_argument(
        "--channels-last", action="store_true", help="also measure each precision with channels-last weights"
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps per configuration (default: 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per configuration first (default: 3)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds the timed steps are split into")
    parser.add_argument(
        "--cache-batch-sizes",
        help="instead of training steps, time building the measurement cache at these batch sizes, e.g. 1,64",
    )
    parser.add_argument(
        "--evaluation", action="store_true",
        help="instead of training steps, time what evaluating an epoch adds: the validation and test passes",
    )
    parser.add_argument("--out", type=Path, default=Path("bench"), help="folder for bench.csv and bench.md")
    args = parser.parse_args(argv)
    precisions = args.precision.split(",")
    if not set(precisions) <= set(PRECISIONS):
        parser.error(f"--precision {args.precision}: choose among {','.join(PRECISIONS)}")
    if min(args.steps, args.rounds) < 1 or args.warmup < 0:
        parser.error("--steps and --rounds must be >= 1, --warmup >= 0")
    configs = configurations(precisions, args.compile, args.channels_last)
    if args.cache_batch_sizes:
        with tempfile.TemporaryDirectory(prefix="ssibench-bench-") as workdir:
            rows = cache_seconds(args.overrides, [int(b) for b in args.cache_batch_sizes.split(",")], Path(workdir))
        for row in rows:
            ratio = rows[0]["seconds"] / row["seconds"]
            print(
                f"batch size {row['batch_size']}: {row['images']} images in {row['seconds']:.3f} s ({ratio:.2f}x the first)"
            )
        return rows

    if args.evaluation:
        with tempfile.TemporaryDirectory(prefix="ssibench-bench-") as workdir:
            rows = [evaluation_seconds(loss, args.overrides, args.rounds, Path(workdir))
                    for loss in _losses(args.losses)]  # fmt: skip
            device = torch.device(compose_config(args.overrides, Path(workdir)).trainer.device)
        rows = [row for row in rows if row is not None]
        overrides = " ".join(args.overrides) or "(defaults)"
        print(f"Median seconds over {args.rounds} rounds on {machine(device)}; overrides: {overrides}")
        print("| loss | train images | a training epoch (s) | validation pass (s) | test pass (s) | validation/epoch |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['loss']} | {r['n_train']} | {r['train_epoch_s']:.2f} "
                f"| {r['validation_s']:.2f} ({r['n_val']} images) | {r['test_s']:.2f} ({r['n_test']} images) "
                f"| {r['validation_s'] / r['train_epoch_s']:.1%} |"
            )
        return rows

    rows = []
    with tempfile.TemporaryDirectory(prefix="ssibench-bench-") as workdir:
        device = torch.device(compose_config(args.overrides, Path(workdir)).trainer.device)
        reference, rate = matmul_rate(device)
        print(f"[bench] {reference} on {machine(device)}: {rate / 1e12:.3g} TFLOP/s", file=sys.stderr, flush=True)
        for loss in _losses(args.losses):
            measured = bench_loss(
                loss, args.overrides, configs, args.steps, args.warmup, args.rounds, Path(workdir), rate
            )
            for line in table_rows(measured):  # as it goes: a full table takes a while
                print(line, file=sys.stderr, flush=True)
            rows += measured
    caption = (
        f"Median seconds per training step ({args.steps} steps after {args.warmup} warm-up) on {machine(device)}; "
        f"overrides: {' '.join(args.overrides) or '(defaults)'}; a {reference} here: {rate / 1e12:.3g} TFLOP/s"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    table = markdown(rows, caption, reference)
    (args.out / "bench.md").write_text(table)
    print(table)
    return rows


if __name__ == "__main__":
    main()
