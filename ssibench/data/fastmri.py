"""fastMRI brain middle slices, the paper's dataset, from the file made by the preparation step."""

from __future__ import annotations

import os
from pathlib import Path

from deepinv.datasets import SimpleFastMRISliceDataset


def fastmri_brain_slices(root: str | os.PathLike, file_name: str = "fastmri_brain_singlecoil.pt"):
    """The (2, 320, 320) middle slices of fastMRI brain saved by deepinv's ``save_simple_dataset``.

    :raises FileNotFoundError: with the command that makes the file, when it is missing.
    """
    path = Path(root) / file_name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: make it once from fastMRI brain with deepinv, "
            f"FastMRISliceDataset('<brain multicoil_train>', slice_index='middle').save_simple_dataset('{path}') "
            "(README, 'The paper's setup'), or set paths.data_dir to the folder that holds it"
        )
    return SimpleFastMRISliceDataset(root_dir=path.parent, file_name=path.name)
