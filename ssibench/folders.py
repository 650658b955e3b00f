"""What a run folder and the data folder hold, named in one place.

Every module that writes or reads a run's files (the run, the checkpoints, the leaderboard and its
figures, the doctor, the bench) takes the names from here, so the layout documented in
docs/runs.rst ("Where results land") is this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ssibench.atomic_files import atomic_path

HYDRA_SUBDIR = ".hydra"  # where Hydra itself would write them (conf/hydra/default.yaml sets output_subdir: null)


@dataclass(frozen=True)
class RunDir:
    """The folder of one run (``outputs/<loss>_<physics>_seed<seed>...`` or a sweep's job folder)."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def results(self) -> Path:
        """The run's record (:mod:`ssibench.results.record`)."""
        return self.path / "results.json"

    @property
    def curves(self) -> Path:
        """Per-epoch training losses and test metrics."""
        return self.path / "metrics.csv"

    @property
    def reconstruction(self) -> Path:
        """One test slice, reconstructed (:mod:`ssibench.evaluation.reconstruction`)."""
        return self.path / "reconstruction.pt"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def hydra_config(self) -> Path:
        """The composed config of the command that last trained the run."""
        return self.path / HYDRA_SUBDIR / "config.yaml"

    @property
    def hydra_overrides(self) -> Path:
        """The command-line overrides of that command (its ``loss=``, ``physics=``, ``seed=``...)."""
        return self.path / HYDRA_SUBDIR / "overrides.yaml"

    def holds_earlier_work(self) -> bool:
        """Whether an earlier command left a run here (its results, checkpoints or ``.hydra/``)."""
        return self.results.exists() or self.hydra_config.parent.exists() or any(self.checkpoints.glob("*.pth.tar"))

    def save_hydra_files(self, cfg: DictConfig) -> None:
        """Write ``.hydra/`` (config, hydra and overrides YAML, as Hydra would) for a command in a new
        folder, or one accepted to train in this folder; a refused or repeated command never calls it
        on earlier work. Without Hydra: nothing."""
        if not HydraConfig.initialized():
            return
        hydra = HydraConfig.get()
        task = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
        files = {"config.yaml": task, "hydra.yaml": OmegaConf.create({"hydra": hydra})}
        files["overrides.yaml"] = hydra.overrides.task
        self.hydra_config.parent.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            with atomic_path(self.hydra_config.parent / name) as tmp:
                OmegaConf.save(content, tmp)


@dataclass(frozen=True)
class DataDir:
    """The shared data folder (``paths.data_dir``): image datasets and measurement caches."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @property
    def measurements(self) -> Path:
        """The simulated measurement caches (:mod:`ssibench.data.measurement_cache`)."""
        return self.path / "measurements"

    def measurement_cache(self, digest: str) -> Path:
        return self.measurements / f"measurements-{digest}.h5"

    def measurement_caches(self) -> list[Path]:
        return sorted(self.measurements.glob("measurements-*.h5"))

    def image_datasets(self) -> list[Path]:
        """Image datasets made in this folder (MNI152 slices, prepared fastMRI files)."""
        return sorted(self.path.glob("*.pt"))
