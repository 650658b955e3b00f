"""Images (MNI152 template, fastMRI), train/test splits and the measurement cache."""

import os
from pathlib import Path


def default_data_dir() -> Path:
    """``paths.data_dir`` without overrides (conf/paths/default.yaml), for commands outside Hydra."""
    return Path(os.environ.get("SSIBENCH_DATA_DIR") or Path.cwd() / "data")
