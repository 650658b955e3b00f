"""The checkpoint that ships with the package, to try at once: ``python launch.py loss=mo_ei epochs=0 ckpt=demo``.

MO-EI, the benchmark's own method, trained by the default run of ``loss=mo_ei`` (the embedded
MNI152 data, ``physics=mri``, 20 epochs, seed 0), as the original SSIBench offers its
``demo_mo-ei.pth.tar``. It is made by one command, ``python -m ssibench.demo``, which trains that run
in a temporary folder and keeps the model's weights, its epoch and the run's identifying config
(not the optimizer: the file stays small); ``tests/test_demo.py`` checks that the config of that
command is the shipped file's, so the file is remade whenever the model or the loss changes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ssibench import checkpoints
from ssibench.context import compose_config
from ssibench.folders import RunDir

OVERRIDES = ["loss=mo_ei"]  # everything else: the defaults


def make(out: Path = checkpoints.SHIPPED["demo"], overrides: list[str] = OVERRIDES) -> dict:
    """Train the demo run and write its checkpoint to ``out``; its results."""
    from ssibench.run import run

    with tempfile.TemporaryDirectory(prefix="ssibench-demo-") as folder:
        results = run(compose_config(overrides, Path(folder)))
        if results["status"] != "ok":
            raise SystemExit(f"demo: the run ended {results['status']}: {results['reason']}")
        state = checkpoints.read(RunDir(folder).checkpoints / checkpoints.LAST)
    kept = {key: state[key] for key in ("epoch", "state_dict", "config")}
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoints.save_atomically(kept, out)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ssibench.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=checkpoints.SHIPPED["demo"], help="default: the shipped file")
    args = parser.parse_args(argv)
    results = make(args.out)
    print(f"wrote {args.out}: PSNR {results['metrics']['PSNR']['mean']:.2f} dB on the default test set")
    return 0


if __name__ == "__main__":
    sys.exit(main())
