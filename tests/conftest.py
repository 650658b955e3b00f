"""Shared fixtures: compose configs the way launch.py does, and run launch.py in a subprocess."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

import ssibench  # noqa: F401  registers the config groups' schemas before anything is composed

# pytest-xdist runs one worker per core: one thread each (and in the runs they launch), not one per core each.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TESTS = Path(__file__).resolve().parent
HELPERS = TESTS / "helpers"  # parts that misbehave on purpose, W&B records, signal and step-gate helpers
sys.path.insert(0, str(HELPERS))  # importable here as in the launch.py subprocesses (faulty_parts.X targets)
EXAMPLES = ROOT / "examples"  # the README's own loss, model, data, operator and metric (my_parts.py, my_conf/)


def _compose_plain(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose("config", overrides=list(overrides))


# The benchmark grid, read from conf/: a loss or scenario added there is tested without editing tests.
LOSSES = sorted(path.stem for path in (CONF / "loss").glob("*.yaml"))
SCENARIOS = sorted(path.stem for path in (CONF / "physics").glob("*.yaml"))
_LOSS_SPECS = {name: _compose_plain(f"loss={name}").loss for name in LOSSES}  # composed once: ~0.2 s each
_REQUIRES = {name: set(spec.get("requires", [])) for name, spec in _LOSS_SPECS.items()}
_PROVIDES = {name: set(_compose_plain(f"physics={name}").physics.get("provides", [])) for name in SCENARIOS}
SELF_SUPERVISED = [
    name for name, spec in _LOSS_SPECS.items() if spec.get("losses") and not spec.get("supervised", False)
]
GlobalHydra.instance().clear()


def runnable(loss: str, physics: str) -> bool:
    """Whether the scenario provides what the loss requires (else the run is skipped)."""
    return _REQUIRES[loss] <= _PROVIDES[physics]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """One data dir for the session: the MNI152 slices and the smoke caches are built once."""
    return tmp_path_factory.mktemp("data")


def compose_cfg(*overrides: str, data_dir: Path, output_dir: Path):
    """The config launch.py would get for these overrides, with Hydra's runtime info set."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("config", overrides=[f"paths.data_dir={data_dir}", *overrides], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


@pytest.fixture
def make_cfg(tmp_path, data_dir):
    """``make_cfg("loss=sup", ...)``: a debug=smoke config on the CPU (on a GPU machine too; a test that
    means CUDA overrides trainer.device) writing into this test's tmp dir."""

    def make(*overrides: str, output_dir: Path | None = None, smoke: bool = True):
        extra = ["debug=smoke"] if smoke else []
        return compose_cfg(
            "trainer.device=cpu", *extra, *overrides, data_dir=data_dir, output_dir=output_dir or tmp_path / "run"
        )

    yield make
    GlobalHydra.instance().clear()


def trainer_for(cfg, batches=None, output_dir: Path | None = None):
    """The trainer a run of ``cfg`` builds (its measurements, parts, checkpoint folder in ``output_dir``
    and starting point: a ``ckpt=`` is loaded), without training; ``batches(train_data)`` replaces
    its training loader (e.g. one batch, or data made to misbehave)."""
    from ssibench.config.context import identifying_config
    from ssibench.data.pipeline import loaders, measurements
    from ssibench.folders import RunDir
    from ssibench.parts.assembly import assemble
    from ssibench.training.build import build_trainer
    from ssibench.training.checkpoints import CheckpointStore, starting_point

    data = measurements(cfg)
    parts = assemble(cfg, data, cfg.trainer.device)
    train_loader = batches(data.train) if batches is not None else loaders(cfg, data, parts.streams)[0]
    store = CheckpointStore(RunDir(output_dir).checkpoints) if output_dir is not None else None
    identity = identifying_config(cfg)
    start = starting_point(cfg, store, identity)
    return build_trainer(cfg, parts, data.physics, train_loader, None, store, start, identity)


def run_forked(target, args_per_process: list[tuple], timeout: float = 600) -> list:
    """Start one forked process per ``args`` at once (the imports are already done), each calling
    ``target(*args, report)`` with a queue it puts its findings on; return them, after checking
    that every process exited cleanly."""
    context = multiprocessing.get_context("fork")
    report = context.Queue()
    processes = [context.Process(target=target, args=(*args, report)) for args in args_per_process]
    for process in processes:
        process.start()
    found = [report.get(timeout=timeout) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return found


def launch_env(data_dir: Path, cuda: bool = False) -> dict:
    """The environment of a launch.py subprocess: the test data dir; tests' helpers and the examples
    importable; no GPU visible unless ``cuda`` (the tests that launch runs mean the CPU, on a GPU machine too)."""
    return {
        **os.environ,
        "SSIBENCH_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HELPERS), str(EXAMPLES), os.environ.get("PYTHONPATH")])),
        "WANDB_SILENT": "true",
        **({} if cuda else {"CUDA_VISIBLE_DEVICES": ""}),
    }


def launch(*args: str, cwd: Path, data_dir: Path, timeout: float = 600, cuda: bool = False) -> subprocess.CompletedProcess:
    """Run ``python launch.py <args>`` as a user would (on the CPU unless ``cuda``)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args],
        cwd=cwd,
        env=launch_env(data_dir, cuda),
        stdin=subprocess.DEVNULL,  # as in a batch job: nothing may wait for input
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"launch.py failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


def assert_picture(path: Path) -> None:
    """``path`` is a PNG with drawn content: readable, of a useful size, not one colour."""
    image = mpimg.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100, image.shape
    assert image[..., :3].std() > 0.05, path


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory, data_dir) -> dict[tuple[str, str], dict]:
    """One `launch.py -m debug=smoke` sweep of every loss over every scenario, as a user runs it."""
    from ssibench.results import schema as results_io

    sweep_dir = tmp_path_factory.mktemp("sweep")
    proc = launch(
        "-m", "debug=smoke", f"loss={','.join(LOSSES)}", f"physics={','.join(SCENARIOS)}",
        f"hydra.sweep.dir={sweep_dir}", cwd=sweep_dir, data_dir=data_dir, timeout=1800,
    )
    assert_ok(proc)
    found = {}
    for path in sweep_dir.glob("*/results.json"):
        results = results_io.read(path)
        found[results["loss"], results["physics"]] = results | {"dir": str(path.parent)}
    return found
