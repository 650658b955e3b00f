"""Results tied to the code that made them: a loss module of one's own (outside the package, on the
path as with PYTHONPATH) is fingerprinted with ssibench's source and the library versions; an edited
one is not handed its old results, and one that cannot be imported fails before anything is simulated."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys

import pytest

from conftest import launch
from ssibench import checkpoints, code_identity
from ssibench import results as results_io
from ssibench.checkpoints import CheckpointError, starting_point
from ssibench.config_checks import InputError
from ssibench.context import identifying_config
from ssibench.run import run
from ssibench.training import BenchmarkTrainer

LOSS_SOURCE = '''import deepinv


class MCTVLoss(deepinv.loss.Loss):
    def forward(self, x_net, y, physics, model, x=None, **kwargs):
        return (physics.A(x_net) - y).abs().flatten(1).mean(1)
'''


@pytest.fixture
def user_loss(tmp_path, monkeypatch):
    """A loss module of one's own in a folder of its own, importable as with PYTHONPATH; its name is
    unique to the test (a module once imported stays in sys.modules)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    name = f"myloss_{tmp_path.name}"
    (folder / f"{name}.py").write_text(LOSS_SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    yield folder / f"{name}.py"
    sys.modules.pop(name, None)


def overrides(module: str, cls: str = "MCTVLoss") -> list[str]:
    """The README's way of plugging in a loss by ``_target_``."""
    return ["~loss", f"+loss.losses=[{{_target_:{module}.{cls}}}]", "+loss.label=MC+TV"]


def test_an_edited_loss_is_not_handed_its_old_results(user_loss, make_cfg, tmp_path, monkeypatch):
    module = user_loss.stem
    first = run(make_cfg(*overrides(module)))
    assert first["status"] == "ok"
    part = first["code"]["parts"]["loss.losses[0]"]
    assert part == {"target": f"{module}.MCTVLoss", "file": user_loss.name, "sha256": hashlib.sha256(user_loss.read_bytes()).hexdigest()}
    assert first["code"]["ssibench"] == code_identity.package_source() and "code" not in first["config"]
    monkeypatch.setattr(BenchmarkTrainer, "train", lambda self: pytest.fail("trained again"))
    assert run(make_cfg(*overrides(module))) == first  # the same code: already finished

    user_loss.write_text(LOSS_SOURCE.replace(".mean(1)", ".mean(1) * 2"))
    before = (tmp_path / "run" / "results.json").read_text()
    line = rf"loss.losses\[0\]: {module}.MCTVLoss \({user_loss.name}\) changed since this run was made\): pass resume=false .*restore the code"
    with pytest.raises(CheckpointError, match=line) as error:
        run(make_cfg(*overrides(module)))
    assert "\n" not in str(error.value)
    assert (tmp_path / "run" / "results.json").read_text() == before  # nothing lost

    # killed before its results were written: its checkpoint is refused the same way
    (tmp_path / "run" / "results.json").unlink()
    with pytest.raises(CheckpointError, match=rf"checkpoint .*ckp_last.pth.tar was made by other code \(loss.losses\[0\]: {module}"):
        run(make_cfg(*overrides(module)))


def test_results_of_an_ssibench_that_recorded_no_code_are_not_handed_back(make_cfg, tmp_path):
    run(make_cfg("loss=zero_filled"))
    path = tmp_path / "run" / "results.json"
    older = {key: value for key, value in json.loads(path.read_text()).items() if key != "code"}
    results_io.write(path, older)  # as an ssibench before the fingerprint wrote it: still readable
    with pytest.raises(CheckpointError, match="records no code fingerprint.*resume=false"):
        run(make_cfg("loss=zero_filled"))


def test_a_pull_of_ssibench_is_a_code_change_too(make_cfg, monkeypatch):
    first = run(make_cfg("loss=zero_filled"))
    monkeypatch.setattr(code_identity, "package_source", lambda: "0" * 64)
    with pytest.raises(CheckpointError, match="ssibench's source changed since this run was made.*resume=false"):
        run(make_cfg("loss=zero_filled"))
    monkeypatch.setattr(code_identity.torch, "__version__", "0.0.1")
    with pytest.raises(CheckpointError, match=r"ssibench's source changed .*; torch \S+ -> 0.0.1\)"):
        run(make_cfg("loss=zero_filled"))
    monkeypatch.undo()
    assert run(make_cfg("loss=zero_filled")) == first


def test_a_ckpt_is_refused_for_an_edited_model_or_loss_and_warned_for_other_code(user_loss, make_cfg, tmp_path, monkeypatch, capsys):
    module = user_loss.stem
    run(make_cfg(*overrides(module)))
    ckpt = checkpoints.checkpoint_dir(tmp_path / "run") / checkpoints.LAST
    warm = make_cfg(*overrides(module), "epochs=0", f"ckpt={ckpt}", output_dir=tmp_path / "eval")
    assert starting_point(warm, None, identifying_config(warm)) is not None  # the same code: taken

    monkeypatch.setattr(code_identity, "package_source", lambda: "0" * 64)
    assert starting_point(warm, None, identifying_config(warm)) is not None
    out = capsys.readouterr().out
    assert "[ssibench] warning: ckpt" in out and "ssibench's source changed" in out

    user_loss.write_text(LOSS_SOURCE + "\n# tuned\n")
    with pytest.raises(CheckpointError, match=rf"ckpt .* was made by other code \(loss.losses\[0\]: {module}.MCTVLoss"):
        starting_point(warm, None, identifying_config(warm))


def test_the_shipped_demo_checkpoint_is_not_checked_against_the_code(make_cfg, monkeypatch, capsys):
    """It ships with the source it belongs to (tests/test_demo.py checks its config): an edit of
    ssibench, or other library versions, must not make ckpt=demo unusable or noisy."""
    monkeypatch.setattr(code_identity, "package_source", lambda: "0" * 64)
    cfg = make_cfg("loss=mo_ei", "epochs=0", "ckpt=demo", smoke=False)
    assert starting_point(cfg, None, identifying_config(cfg)) is not None
    assert "warning" not in capsys.readouterr().out


def test_a_misspelt_class_fails_before_anything_is_simulated_with_a_close_match(user_loss, make_cfg, tmp_path):
    module = user_loss.stem
    with pytest.raises(InputError, match=rf"^loss.losses\[0\]: _target_ {module}.MCTVLos: module {module} has no MCTVLos \(did you mean MCTVLoss\?\)$"):
        run(make_cfg(*overrides(module, "MCTVLos"), output_dir=tmp_path / "typo"))
    assert not (tmp_path / "typo" / "results.json").exists()


def test_a_loss_module_that_is_gone_fails_in_one_line_before_anything_is_simulated(user_loss, tmp_path):
    """As a user meets it: PYTHONPATH (here tests/ and examples/) does not lead to the module's folder."""
    data_dir = tmp_path / "data"
    proc = launch("debug=smoke", "trainer.device=cpu", *overrides(user_loss.stem), cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"ssibench: error: loss.losses[0]: _target_ {user_loss.stem}.MCTVLoss: no module named {user_loss.stem}; "
        "a module of your own must be importable: add its folder to PYTHONPATH"
    ]
    assert "simulating" not in proc.stdout and not (data_dir / "measurements").exists()


def test_a_sweep_records_an_unimportable_target_as_that_jobs_failure(tmp_path, data_dir):
    proc = launch(
        "-m", "debug=smoke", "trainer.device=cpu", "loss=mc", "loss.losses=[{_target_:faulty_parts.NoSuchLoss}]",
        f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path, data_dir=data_dir,
    )
    assert proc.returncode != 0
    (results,) = [results_io.read(p) for p in (tmp_path / "sweep").glob("*/results.json")]
    assert results["status"] == "failed" and "module faulty_parts has no NoSuchLoss" in results["reason"]


def test_results_json_code_is_checked_by_the_schema(make_cfg, tmp_path):
    results = run(make_cfg("loss=zero_filled"))
    assert results_io.validate(results) and set(results["code"]) == {"ssibench", "deepinv", "torch", "parts"}
    broken = {**results, "code": {**results["code"], "parts": {"loss.losses[0]": {"target": "x.Y"}}}}
    with pytest.raises(ValueError, match=r"code.parts.loss.losses\[0\] needs target, file and sha256"):
        results_io.validate(broken)


def test_parts_of_installed_libraries_and_of_ssibench_are_covered_by_versions_and_source(make_cfg):
    """Only the user's modules are hashed one by one; deepinv's and ssibench's are in the versions and source."""
    code = identifying_config(make_cfg("loss=ssdu", "physics=noisy"))["code"]
    assert code["parts"] == {}
    term = "{_target_: faulty_parts.NonFiniteFromEpoch, epoch: 1, inner: {_target_: faulty_parts.NonFiniteFromEpoch}}"
    nested = make_cfg("loss=mc", f"loss.losses=[{term}]")
    assert list(identifying_config(nested)["code"]["parts"]) == ["loss.losses[0]", "loss.losses[0].inner"]
