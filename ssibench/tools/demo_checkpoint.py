"""The checkpoint that ships with the package, to try at once: ``python launch.py loss=mo_ei epochs=0 ckpt=demo``.

MO-EI, the benchmark's own method, trained by the default run of ``loss=mo_ei`` (the embedded
MNI152 data, ``physics=mri``, 20 epochs, seed 0), as the original SSIBench offers its
``demo_mo-ei.pth.tar``. It is made by one command, ``ssibench demo-checkpoint``, which trains that run
in a temporary folder and keeps the model's weights, its epoch and the run's identifying config
(not the optimizer: the file stays small); ``tests/tools/test_demo.py`` checks that the config of that
command is the shipped file's, so the file is remade whenever the model or the loss changes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ssibench.config.context import compose_config, identifying_config
from ssibench.folders import RunDir
from ssibench.results.record import read_record
from ssibench.training import checkpoints

OVERRIDES = ["loss=mo_ei"]  # everything else: the defaults


def make(out: Path = checkpoints.SHIPPED["demo"], source: Path | None = None) -> dict:
    """Train the demo run (or take the finished run ``source`` of the same config) and write its
    checkpoint to ``out``; the run's results."""
    from ssibench.run import run

    with tempfile.TemporaryDirectory(prefix="ssibench-demo-") as folder:
        cfg = compose_config(OVERRIDES, Path(source or folder))
        identity = identifying_config(cfg)
        results = read_record(RunDir(source)) if source is not None else run(cfg)
        if results is None or results["status"] != "ok" or results["epochs"] != cfg.epochs:
            raise SystemExit(f"demo: {source or 'the run'} holds no finished run of {' '.join(OVERRIDES)}")
        state = checkpoints.read(RunDir(source or folder).checkpoints / checkpoints.LAST)
    checkpoints.check_same_run(state["config"], identity, f"{source}", hint="give a run of python launch.py loss=mo_ei")
    kept = {key: state[key] for key in ("epoch", "state_dict", "config")}
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoints.save_atomically(kept, out)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssibench demo-checkpoint", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=checkpoints.SHIPPED["demo"], help="default: the shipped file")
    parser.add_argument("--from", dest="source", type=Path, help="a finished run of the same config, instead of training")
    args = parser.parse_args(argv)
    results = make(args.out, args.source)
    print(f"wrote {args.out}: PSNR {results['metrics']['PSNR']['mean']:.2f} dB on the default test set")
    return 0


if __name__ == "__main__":
    sys.exit(main())
