"""Bad input: one clear line saying what to do, a non-zero exit, and nothing on disk lost or overwritten."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, _compose_plain, launch
from hydra.errors import MissingConfigException

from ssibench.errors import InputError
from ssibench.run import run
from ssibench.training.checkpoints import CheckpointError


def _snapshot(*folders):
    return {p: p.read_bytes() for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def guarded(tmp_path, data_dir):
    """The folder the command writes to, holding earlier work (as Hydra would write .hydra/ there
    before the run is checked): every bad-input test checks it, and the data dir, byte for byte."""
    keep = tmp_path / "run"  # make_cfg's output_dir; the launch tests point hydra.run.dir here
    (keep / ".hydra").mkdir(parents=True)
    (keep / ".hydra" / "config.yaml").write_text("# an earlier command's config\n")
    (keep / "notes.txt").write_text("kept")
    before = _snapshot(keep, data_dir)
    yield keep
    after = _snapshot(keep, data_dir)
    assert {p: after.get(p) for p in before} == before  # new caches may appear; nothing earlier changes


@pytest.mark.parametrize("group", ["loss", "physics", "model", "dataset"])
def test_an_unknown_choice_lists_the_available_ones(group):
    with pytest.raises(MissingConfigException, match=rf"Could not find '{group}/nope'") as error:
        _compose_plain(f"{group}=nope")
    assert error.value.options and len(error.value.options) >= 1  # Hydra lists the choices


def test_an_unknown_choice_through_launch(tmp_path, data_dir, guarded):
    proc = launch("loss=nope", cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode != 0
    assert "Could not find 'loss/nope'" in proc.stderr and "Available options in 'loss'" in proc.stderr
    assert "\tmo_ei\n" in proc.stderr  # the choices are listed
    assert not (tmp_path / "outputs").exists()  # nothing was created


def test_a_bad_value_is_one_line_through_launch(tmp_path, data_dir, guarded):
    proc = launch("debug=smoke", "physics.acceleration=1", f"hydra.run.dir={guarded}", cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "ssibench: error: physics.acceleration must be > 1 (undersampling), got 1"
    )
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("results.json"))


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["epochs=-1"], r"epochs must be an integer >= 0, got -1"),
        (["epochs=ten"], r"epochs must be an integer >= 0, got 'ten'"),
        (["epochs=2.5"], r"epochs must be an integer >= 0, got 2.5"),
        (["physics.acceleration=0.5"], r"physics.acceleration must be > 1"),
        (["physics=noisy", "physics.sigma=-0.1"], r"physics.sigma is a noise level and must be >= 0, got -0.1"),
        (["trainer.device=cuda:99"], r"trainer.device=cuda:99 but"),
        (["trainer.device=tpu"], r"trainer.device=tpu is not a device"),
    ],
)
def test_bad_values_are_refused_before_any_work(overrides, message, make_cfg, tmp_path, guarded):
    with pytest.raises(InputError, match=message):
        run(make_cfg(*overrides))
    assert not (tmp_path / "run" / "results.json").exists()


def test_a_data_dir_that_is_not_a_writable_folder(make_cfg, tmp_path, guarded):
    # A path below a file: not writable even for root (who ignores permission bits).
    with pytest.raises(InputError, match=r"data dir .*notes.txt/data is not a writable folder.*SSIBENCH_DATA_DIR"):
        run(make_cfg(f"paths.data_dir={guarded / 'notes.txt' / 'data'}"))


@pytest.mark.parametrize("kind", ["missing", "not a checkpoint", "truncated"])
def test_a_bad_checkpoint_path(kind, make_cfg, tmp_path, guarded):
    path = {"missing": tmp_path / "nope.pth.tar", "not a checkpoint": guarded / "notes.txt"}.get(kind)
    if kind == "truncated":
        run(make_cfg(output_dir=tmp_path / "trained"))
        path = tmp_path / "trained" / "checkpoints" / "ckp_last.pth.tar"
        path.write_bytes(path.read_bytes()[:100])
    message = {"missing": "does not exist", "not a checkpoint": "not a readable checkpoint", "truncated": "not a readable"}
    with pytest.raises(CheckpointError, match=message[kind]):
        run(make_cfg("epochs=0", f"ckpt={path}"))
    assert not (tmp_path / "run" / "results.json").exists()


def test_images_of_another_size_than_the_physics(make_cfg, guarded, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    with pytest.raises(InputError, match=r"dataset images are \(2, 40, 40\) but the physics expects \(2, 32, 32\)"):
        run(make_cfg("~dataset", "+dataset._target_=my_parts.Ellipses", "+dataset.img_size=40"))


def test_a_custom_dataset_of_the_wrong_type(make_cfg, guarded):
    with pytest.raises(InputError, match=r"complex64 but must be real floating tensors of shape \(2, 32, 32\)"):
        run(make_cfg("~dataset", "+dataset._target_=faulty_parts.ComplexImages"))
