"""Nothing on disk is lost or rewritten by a refused or repeated command: the folder the command writes
to (its .hydra/ included, which Hydra itself would write before the run is checked) stays byte for byte."""

from __future__ import annotations

import shutil

import pytest
import torch
from conftest import assert_ok, launch

from ssibench.config.context import RunContext
from ssibench.data.mni152 import mni152_slices
from ssibench.results import schema as results_io
from ssibench.run import run
from ssibench.training import checkpoints
from ssibench.training.checkpoints import CheckpointError

RUN = ("debug=smoke", "loss=mc", "epochs=1")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir):
    """A run finished through launch.py, as a user leaves it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert_ok(launch(*RUN, f"hydra.run.dir={out}", cwd=out.parent, data_dir=data_dir))
    overrides = (out / ".hydra" / "overrides.yaml").read_text().split()
    assert overrides == ["-", "debug=smoke", "-", "loss=mc", "-", "epochs=1"]
    return out


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_untouched(folder, before):
    """Every file as it was; Hydra's job log may only have grown (lines appended, none lost)."""
    after = _snapshot(folder)
    log = next((name for name in before if name.suffix == ".log"), None)
    if log is not None:
        assert after.pop(log).startswith(before[log])
        before = {name: content for name, content in before.items() if name != log}
    assert after == before


@pytest.fixture
def copy(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def test_another_override_on_a_finished_run_is_refused_and_leaves_its_hydra_record(copy, tmp_path, data_dir):
    before = _snapshot(copy)
    proc = launch(*RUN, "physics.acceleration=8", f"hydra.run.dir={copy}", cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    refusal = proc.stderr.strip().splitlines()[-1]
    assert refusal.startswith(f"ssibench: error: {copy / 'results.json'} was made with another config")
    _assert_untouched(copy, before)  # .hydra/config.yaml still says acceleration 6


def test_a_damaged_results_json_is_named_in_one_line_and_kept(copy, tmp_path, data_dir):
    damaged = copy / "results.json"
    damaged.write_text(damaged.read_text().replace('"loss"', '"loss",', 1))  # one stray comma
    before = _snapshot(copy)
    proc = launch(*RUN, f"hydra.run.dir={copy}", cwd=tmp_path, data_dir=data_dir)  # the same command
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ssibench: error: {damaged} is not a readable results.json (")
    assert "restore it" in last and "resume=false" in last
    _assert_untouched(copy, before)


def test_a_damaged_results_json_in_a_sweep_is_not_replaced_by_a_failure(copy, make_cfg):
    damaged = copy / "results.json"
    damaged.write_text(damaged.read_text()[:100])  # truncated
    before = _snapshot(copy)
    cfg = make_cfg(*RUN[1:], output_dir=copy)
    context = RunContext.from_hydra(cfg)
    with pytest.raises(ValueError, match="is not a readable results.json"):
        run(cfg, RunContext(context.choices, True, copy, copy.parent, context.identity))  # a sweep's job
    _assert_untouched(copy, before)


def test_the_same_command_on_a_finished_run_rewrites_nothing(copy, tmp_path, data_dir):
    before = _snapshot(copy)
    proc = launch(*RUN, f"hydra.run.dir={copy}", cwd=tmp_path, data_dir=data_dir)
    assert_ok(proc)
    assert "already finished, not retrained" in proc.stdout
    _assert_untouched(copy, before)


def test_a_skip_never_replaces_a_finished_record(copy, make_cfg):
    """A sweep run again after the loss's YAML gained a requirement its scenario lacks: skipped, kept."""
    before = _snapshot(copy)
    cfg = make_cfg(*RUN[1:], "+loss.requires=[noise]", output_dir=copy)
    context = RunContext.from_hydra(cfg)
    results = run(cfg, RunContext(context.choices, True, copy, copy.parent, context.identity))
    assert results["status"] == "skipped"
    assert results_io.read(copy / "results.json")["status"] == "ok"
    _assert_untouched(copy, before)


@pytest.mark.parametrize(
    "state,what",
    [
        ({"state_dict": [1, 2]}, "'state_dict' is a list, not a mapping of parameter names to tensors"),
        ({"state_dict": {"w": 1.0}}, "'state_dict' is a dict, not a mapping"),
        ({"state_dict": {}, "config": 5}, "'config' is a int"),
        ({"state_dict": {}, "epoch": "3"}, "'epoch' is a str"),
    ],
    ids=["list", "not tensors", "config", "epoch"],
)
def test_a_hand_made_ckpt_of_the_wrong_structure_is_one_line(state, what, make_cfg, tmp_path):
    path = tmp_path / "hand_made.pth.tar"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"is not a checkpoint of this benchmark \(") as error:
        run(make_cfg("epochs=0", f"ckpt={path}"))
    assert what in str(error.value) and "\n" not in str(error.value)


def test_a_run_checkpoint_missing_a_field_is_one_line(copy, make_cfg):
    """The run's own newest checkpoint, its random streams gone (made by other code, or by hand)."""
    (copy / "results.json").unlink()  # as if killed before the end
    last = checkpoints.checkpoint_dir(copy) / checkpoints.LAST
    state = torch.load(last, weights_only=True)
    del state["random_streams"]
    torch.save(state, last)
    with pytest.raises(CheckpointError, match=rf"checkpoint {last} cannot be restored: KeyError 'random_streams'"):
        run(make_cfg(*RUN[1:], "epochs=2", output_dir=copy))


def test_a_damaged_image_cache_is_rebuilt(tmp_path, capsys):
    first = mni152_slices(tmp_path, img_size=32)
    (cache,) = tmp_path.glob("mni152_*.pt")
    cache.write_bytes(cache.read_bytes()[:1000])  # a truncated copy
    again = mni152_slices(tmp_path, img_size=32)
    assert f"image cache {cache} is damaged" in capsys.readouterr().out
    assert len(again) == len(first) and torch.equal(again[0][0], first[0][0])
