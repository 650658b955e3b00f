"""Data preparation steps that run once, before any benchmark run.

    ssibench prepare fastmri <folder of fastMRI .h5 volumes> [--anatomy brain|knee] [--out FILE] [--overwrite]

``fastmri`` makes the paper's dataset: the middle slice of every volume, as deepinv's
``FastMRISliceDataset(root, slice_index="middle").save_simple_dataset(out)`` does (the magnitude
reconstruction, scaled to [0, 1] and cropped or zero-padded to 320×320), into the file that
``dataset=fastmri_brain`` (or ``fastmri_knee``) reads. An existing output is never replaced unless
``--overwrite`` is given, and a half-written one never takes its place (temporary file, then rename).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
from deepinv.datasets import FastMRISliceDataset

from ssibench.atomic_files import atomic_path
from ssibench.data import default_data_dir

ANATOMIES = ("brain", "knee")
# The fully-sampled image of a training volume: multicoil files hold the RSS, single-coil ones the ESC.
TARGETS = ("reconstruction_rss", "reconstruction_esc")


def default_output(anatomy: str) -> Path:
    """Where ``dataset=fastmri_<anatomy>`` looks: ``paths.data_dir`` (``$SSIBENCH_DATA_DIR``, else ``./data``)."""
    return default_data_dir() / f"fastmri_{anatomy}_singlecoil.pt"


def fastmri_volumes(root: Path) -> list[Path]:
    """The fastMRI volumes in ``root``; raises ValueError saying what is wrong with the folder."""
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder: give the folder of fastMRI .h5 volumes, e.g. .../brain_multicoil_train")
    files = sorted(root.glob("*.h5"))  # the files deepinv reads
    if not files:
        raise ValueError(
            f"no fastMRI .h5 files in {root}: give the folder of the downloaded volumes, e.g. .../brain_multicoil_train"
        )
    bad = [path.name for path in files if not _is_training_volume(path)]
    if bad:
        raise ValueError(
            f"{len(bad)} of the {len(files)} .h5 files in {root} are not readable fastMRI training volumes "
            f"(each needs 'kspace' and '{TARGETS[0]}'), e.g. {bad[0]}: re-download or remove them"
        )
    return files


def _is_training_volume(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return "kspace" in f and any(name in f for name in TARGETS)
    except OSError:  # truncated download, or not HDF5 at all
        return False


def prepare_fastmri(root: Path, out: Path, overwrite: bool = False) -> int:
    """Save the middle slice of every volume in ``root`` to ``out``; return the number of slices."""
    volumes = fastmri_volumes(root)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists: pass --overwrite to replace it, or --out to write elsewhere")
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"[ssibench] middle slices of {len(volumes)} volumes in {root}")
    try:
        with atomic_path(out, replace=overwrite) as tmp:
            saved = FastMRISliceDataset(root, slice_index="middle").save_simple_dataset(tmp)
    except FileExistsError:
        raise FileExistsError(f"{out} appeared while preparing: pass --overwrite to replace it") from None
    return len(saved)


def _train_hint(anatomy: str, out: Path) -> str:
    default = default_output(anatomy)
    overrides = ["experiment=ssibench"] + (["dataset=fastmri_knee"] if anatomy == "knee" else [])
    if out.resolve().parent != default.resolve().parent:
        overrides.append(f"paths.data_dir={out.resolve().parent}")
    if out.name != default.name:
        overrides.append(f"dataset.file_name={out.name}")
    return "python launch.py " + " ".join(overrides)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssibench prepare", description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    fastmri = steps.add_parser("fastmri", help="the paper's dataset: middle slices of fastMRI volumes")
    fastmri.add_argument("root", type=Path, help="folder of fastMRI .h5 volumes, e.g. brain_multicoil_train")
    fastmri.add_argument("--anatomy", choices=ANATOMIES, default="brain", help="names the default output (default: brain)")
    fastmri.add_argument("--out", type=Path, help="output file (default: <data dir>/fastmri_<anatomy>_singlecoil.pt)")
    fastmri.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)

    out = args.out or default_output(args.anatomy)
    try:
        n = prepare_fastmri(args.root, out, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as error:
        fastmri.error(str(error))  # one line and exit code 2
    print(f"[ssibench] wrote {n} slices to {out}; train on them with: {_train_hint(args.anatomy, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
