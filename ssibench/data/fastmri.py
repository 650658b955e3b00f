"""fastMRI middle slices, the paper's dataset, from the file made by ``ssibench prepare fastmri``."""

from __future__ import annotations

import os
from pathlib import Path

from deepinv.datasets import SimpleFastMRISliceDataset


def fastmri_slices(root: str | os.PathLike, file_name: str, anatomy: str = "brain"):
    """The (2, 320, 320) middle slices saved by deepinv's ``save_simple_dataset`` (real, imaginary = 0).

    :raises FileNotFoundError: with the command that makes the file, when it is missing.
    """
    path = Path(root) / file_name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: make it once with `ssibench prepare fastmri "
            f"<path to fastMRI {anatomy} multicoil_train> --anatomy {anatomy} --out {path}` "
            "(docs/fastmri.rst), or set paths.data_dir to the folder that holds it"
        )
    return SimpleFastMRISliceDataset(root_dir=path.parent, file_name=path.name)
