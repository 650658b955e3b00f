"""``ssibench doctor``: check that this machine can run the benchmark, and where its data lives.

Prints one line per check (versions, devices, the optional scientific packages, the data dir and its
caches) and exits non-zero when a check fails, with what to do.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from pathlib import Path

import torch

from ssibench.config.checks import check_writable
from ssibench.data import default_data_dir
from ssibench.errors import InputError
from ssibench.folders import DataDir

# Imported by the scenarios and losses that need them; a broken install shows up only mid-sweep.
_PACKAGES = {
    "deepinv": "the physics, the model and the losses",
    "hydra": "the configs and launchers",
    "sigpy": "coil maps of physics=multicoil",
    "libcpab": "CPAB transforms of mo_ei and robust_mo_ei",
    "nilearn": "the MNI152 template of dataset=mni152",
    "h5py": "the measurement caches",
    "wandb": "logger=wandb",
}


def checks(data_dir: Path) -> list[tuple[bool, str]]:
    """``(ok, line)`` for each check."""
    out = [(True, f"python {platform.python_version()} on {platform.platform()}")]
    for module, what in _PACKAGES.items():
        try:
            version = getattr(importlib.import_module(module), "__version__", "?")
            out.append((True, f"{module} {version}"))
        except Exception as error:  # any import failure of an optional dependency is the finding
            out.append((False, f"{module} does not import ({type(error).__name__}: {error}); needed for {what}"))
    out.append((True, f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"))
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            out.append((True, f"cuda:{index} {props.name}, {props.total_memory / 2**30:.0f} GiB"))
    else:
        out.append((True, "no CUDA device: runs use the CPU (trainer.device=auto)"))
    try:
        check_writable(data_dir)
        out.append((True, f"data dir {data_dir} is writable"))
    except InputError as error:
        out.append((False, str(error)))
        return out
    folder = DataDir(data_dir)
    caches = folder.measurement_caches()
    size = sum(path.stat().st_size for path in caches) / 2**20
    out.append((True, f"{len(caches)} measurement cache(s), {size:.1f} MiB, in {folder.measurements}"))
    images = [path.name for path in folder.image_datasets()]
    out.append(
        (True, f"image datasets: {', '.join(images) if images else 'none made yet (the first run makes MNI152)'}")
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssibench doctor", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=default_data_dir(), help="default: $SSIBENCH_DATA_DIR or ./data"
    )
    args = parser.parse_args(argv)
    results = checks(args.data_dir)
    for ok, line in results:
        print(f"{'ok  ' if ok else 'FAIL'} {line}")
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
