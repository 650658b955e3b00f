"""What a run folder and the data folder hold, named in one place.

Every module that writes or reads a run's files (the run, the checkpoints, the leaderboard and its
figures, the doctor, the bench) takes the names from here, so the layout documented in the README
("Where results land") is this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    """The folder of one run (``outputs/<loss>_<physics>_seed<seed>...`` or a sweep's job folder)."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def results(self) -> Path:
        """The run's record (:mod:`ssibench.record`)."""
        return self.path / "results.json"

    @property
    def curves(self) -> Path:
        """Per-epoch training losses and test metrics."""
        return self.path / "metrics.csv"

    @property
    def reconstruction(self) -> Path:
        """One test slice, reconstructed (:mod:`ssibench.reconstruction`)."""
        return self.path / "reconstruction.pt"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def hydra_config(self) -> Path:
        """The composed config Hydra saved for the run."""
        return self.path / ".hydra" / "config.yaml"

    @property
    def hydra_overrides(self) -> Path:
        """The command-line overrides Hydra saved for the run (its ``loss=``, ``physics=``, ``seed=``...)."""
        return self.path / ".hydra" / "overrides.yaml"


@dataclass(frozen=True)
class DataDir:
    """The shared data folder (``paths.data_dir``): image datasets and measurement caches."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def measurements(self) -> Path:
        """The simulated measurement caches (:mod:`ssibench.data.measurements`)."""
        return self.path / "measurements"

    def measurement_cache(self, digest: str) -> Path:
        return self.measurements / f"measurements-{digest}.h5"

    def measurement_caches(self) -> list[Path]:
        return sorted(self.measurements.glob("measurements-*.h5"))

    def image_datasets(self) -> list[Path]:
        """Image datasets made in this folder (MNI152 slices, prepared fastMRI files)."""
        return sorted(self.path.glob("*.pt"))
