"""What a run knows from Hydra, read once (``launch.py``) and passed down: nothing below asks Hydra again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from ssibench.config import schema as config_schema
from ssibench.config import tuning
from ssibench.data import default_data_dir
from ssibench.data.measurement_cache import without_devices
from ssibench.errors import InputError
from ssibench.results import code_identity

CONF = Path(__file__).resolve().parents[2] / "conf"
CODE = "code"  # the key of the code fingerprint in a run's identity (no config group has this name)

# Config entries that may change between a run and its resumption without changing what it computes:
# where files go, logging, the device and loader settings, how long to train and how often to save.
_NOT_IDENTIFYING = {
    *("paths", "logger", "hydra", "resume", "ckpt", "epochs", "only", "figure_slice", "simulation_batch_size"),
    *("trainer.device", "trainer.jobs_per_gpu", "trainer.num_workers", "trainer.show_progress_bar"),
    *("trainer.ckp_interval", "trainer.eval_interval", "trainer.pin_memory", "trainer.persistent_workers"),
    *("trainer.worker_start_method", "trainer.resident_data"),
    # Tuning (ssibench/config/tuning.py): the search spaces and the number of trials do not change what a
    # trial computes; its index (tune.trial) and the values it sets (at their keys and in tune.values) do.
    *("loss.search_space", "tune.space", "tune.trials"),
}


def identifying_config(cfg: DictConfig) -> dict:
    """The part of a run's config that determines its results, :func:`resolved` (``${oc.env:W}`` is
    W's value; ``${paths.data_dir}`` and the device stay out, so that a run resumes with another data
    folder and on another kind of node), and under ``code`` the fingerprint of the code that computes
    them (:mod:`ssibench.results.code_identity`). Checkpoints and results.json hold it, and a re-run is checked
    against it. ``cfg``'s own configs are typed by their schemas first, in place, so that a YAML of
    one's own is identified as a built-in one is (where one does not fit its schema, ``run`` says so
    in its first check)."""
    try:
        config_schema.apply(cfg)
    except InputError:
        pass
    config = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    for key in _NOT_IDENTIFYING:
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node.get(parent, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return {**resolved(config), CODE: code_identity.fingerprint(cfg)}


def resolved(config: dict) -> dict:
    """``config``, the identifying entries of a run as written, with every interpolation resolved that
    resolves among them, and every ``device`` left out (as the measurement cache key leaves them out).
    One that points at an entry that is not identifying (``${paths.data_dir}``, ``${epochs}``) is not
    there to resolve, and one that fails (a bad interpolation: the run's own checks report it) stays as
    written. A stored identity that is already resolved comes back as it is."""
    try:
        node = OmegaConf.create(config)
    except Exception:  # noqa: BLE001  a stored value OmegaConf cannot hold: compared as it is
        return without_devices(config)
    return without_devices(_resolved_node(node))


def _resolved_node(node: DictConfig | ListConfig):
    """``node`` as plain containers, each entry resolved where it resolves and as written where not."""
    keys = list(node.keys()) if isinstance(node, DictConfig) else range(len(node))
    out = {} if isinstance(node, DictConfig) else []
    for key in keys:
        try:
            value = node[key]  # resolves an interpolation where it stands (``${..img_size}``)
        except Exception:  # noqa: BLE001  unresolvable here: as written
            value = OmegaConf.to_container(node, resolve=False)[key]
        if isinstance(value, (DictConfig, ListConfig)):
            value = _resolved_node(value)
        if isinstance(out, dict):
            out[key] = value
        else:
            out.append(value)
    return out


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The config ``launch.py <overrides>`` would get, writing into ``output_dir``, with Hydra's
    runtime set as for a run (for the commands that run the benchmark without launch.py)."""
    if not any(o.startswith("paths.data_dir=") for o in overrides):
        overrides = [f"paths.data_dir={default_data_dir()}", *overrides]
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


@dataclass(frozen=True)
class RunContext:
    """A run's place in Hydra's world.

    :param choices: the name each config group was chosen by (``loss=mc`` -> ``{"loss": "mc"}``), or,
        for a group given by ``_target_`` on the command line, that target (else its ``label``).
    :param sweep: whether the run is a job of a ``-m`` sweep (errors then become that job's record).
    :param output_dir: the run's folder.
    :param sweep_dir: the sweep's folder (W&B groups its runs by it), else ``None``.
    :param identity: :func:`identifying_config` of the run.
    """

    choices: dict[str, str]
    sweep: bool
    output_dir: Path
    sweep_dir: Path | None = None
    identity: dict = field(default_factory=dict)

    @classmethod
    def from_hydra(cls, cfg: DictConfig) -> RunContext:
        """The context of the run of ``cfg``. A trial of ``+tune`` first gets its values set in ``cfg``
        (:func:`ssibench.config.tuning.apply_trial`), so that its identity, folder record and results hold them."""
        hydra = HydraConfig.get() if HydraConfig.initialized() else None
        known = dict(hydra.runtime.choices) if hydra is not None else {}
        choices = {}
        for group in ("loss", "physics", "dataset", "model"):
            node = cfg.get(group)
            fallback = "none" if node is None else str(node.get("_target_") or node.get("label") or "custom")
            choices[group] = known.get(group) or fallback
        sweep = hydra is not None and hydra.mode == RunMode.MULTIRUN
        try:
            tuning.apply_trial(cfg)  # before the identity is taken: a trial's values are part of what it is
        except InputError:
            pass  # a bad trial or search space: the run's first check (check_config) says so in one line
        return cls(
            choices=choices,
            sweep=sweep,
            output_dir=Path(cfg.paths.output_dir),
            sweep_dir=Path(hydra.sweep.dir) if sweep else None,
            identity=identifying_config(cfg),
        )
