"""Results tied to the code and the config that made them: a loss module of one's own (outside the
package, on the path as with PYTHONPATH) is fingerprinted with every module of one's own it imports,
ssibench's source and the versions of the libraries the targets come from; the config is identified
resolved. An edited one is not handed its old results, and one that cannot be imported fails before
anything is simulated."""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import json
import sys

import pytest
from conftest import launch
from omegaconf import OmegaConf

from ssibench.config.context import identifying_config
from ssibench.data.measurement_cache import cache_key, cache_path
from ssibench.errors import InputError
from ssibench.folders import DataDir
from ssibench.results import code_identity
from ssibench.results import schema as results_io
from ssibench.run import run
from ssibench.training import checkpoints
from ssibench.training.checkpoints import CheckpointError, check_same_code, check_same_run, starting_point
from ssibench.training.trainer import BenchmarkTrainer

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


@pytest.fixture
def own_code(tmp_path, monkeypatch):
    """``own_code({"pkg/mod.py": source}, under="mine")``: modules of one's own written into a folder on
    the path (as with PYTHONPATH), which it returns; their names should hold ``tmp_path.name``, unique to
    the test (a module once imported stays in sys.modules, and is dropped from it after the test)."""

    def write(files: dict[str, str], under: str = "mine"):
        folder = tmp_path / under
        for name, source in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(source)
        monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()
        return folder

    yield write
    for name in [name for name in sys.modules if tmp_path.name in name]:
        del sys.modules[name]


def overrides(module: str, cls: str = "MCTVLoss") -> list[str]:
    """The README's way of plugging in a loss by ``_target_``."""
    return ["~loss", f"+loss.losses=[{{_target_:{module}.{cls}}}]", "+loss.label=MC+TV"]


def test_an_edited_loss_is_not_handed_its_old_results(user_loss, make_cfg, tmp_path, monkeypatch):
    module = user_loss.stem
    first = run(make_cfg(*overrides(module)))
    assert first["status"] == "ok"
    part = first["code"]["parts"]["loss.losses[0]"]
    sha256 = hashlib.sha256(user_loss.read_bytes()).hexdigest()
    assert part == {"target": f"{module}.MCTVLoss", "file": user_loss.name, "sha256": sha256, "imports": {}}
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
    """It ships with the source it belongs to (tests/tools/test_demo.py checks its config): an edit of
    ssibench, or other library versions, must not make ckpt=demo unusable or noisy."""
    monkeypatch.setattr(code_identity, "package_source", lambda: "0" * 64)
    monkeypatch.setattr(code_identity.torch, "__version__", "0.0.1")
    monkeypatch.setattr(code_identity.deepinv, "__version__", "0.0.1")
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
    assert results_io.validate(results) and set(results["code"]) == {"format", "ssibench", "deepinv", "torch", "parts", "distributions"}
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


HELPED_LOSS = """import deepinv


class Scaled(deepinv.loss.MCLoss):
    def forward(self, *args, **kwargs):
        from helpers_{tag}.scale import factor  # imported at first use: found in the source all the same

        return factor() * super().forward(*args, **kwargs)
"""


def test_an_edited_helper_of_a_helper_is_named_and_its_run_is_not_handed_back(own_code, make_cfg, tmp_path):
    tag = tmp_path.name
    folder = own_code({
        f"loss_{tag}.py": HELPED_LOSS.format(tag=tag),
        f"helpers_{tag}/__init__.py": "",
        f"helpers_{tag}/scale.py": "from .constants import FACTOR\n\n\ndef factor():\n    return FACTOR\n",
        f"helpers_{tag}/constants.py": "FACTOR = 1.0\n",
        f"unrelated_{tag}.py": "",
    })
    importlib.import_module(f"unrelated_{tag}")  # imported by the process, not by the loss: not its code
    cfg = make_cfg(*overrides(f"loss_{tag}", "Scaled"))
    before = identifying_config(cfg)
    part = before["code"]["parts"]["loss.losses[0]"]
    assert part["file"] == f"loss_{tag}.py"
    assert list(part["imports"]) == [f"helpers_{tag}/{name}.py" for name in ("__init__", "constants", "scale")]

    (folder / f"helpers_{tag}" / "constants.py").write_text("FACTOR = 2.0\n")
    after = identifying_config(cfg)
    with pytest.raises(CheckpointError) as error:
        check_same_code(before, after, "results.json")
    assert str(error.value) == (
        f"results.json was made by other code (loss.losses[0]: loss_{tag}.Scaled "
        f"(its import helpers_{tag}/constants.py) changed since this run was made): pass resume=false for a fresh run "
        "in a new folder, or restore the code it was made with"
    )


def test_a_module_in_a_folder_named_site_packages_that_no_distribution_installed_is_hashed(own_code, tmp_path):
    """Installed is what an install folder of this interpreter holds with a distribution's metadata, not
    a path with ``site-packages`` in it (a user's own virtualenv folder, a checkout named so)."""
    name = f"myloss_{tmp_path.name}"
    folder = own_code({f"{name}.py": LOSS_SOURCE}, under="venv/lib/python3/site-packages")
    code = code_identity.code_of(OmegaConf.create({"loss": {"_target_": f"{name}.MCTVLoss"}}), ("loss",))
    sha256 = hashlib.sha256((folder / f"{name}.py").read_bytes()).hexdigest()
    part = {"target": f"{name}.MCTVLoss", "file": f"{name}.py", "sha256": sha256, "imports": {}}
    assert code == {"parts": {"loss": part}, "distributions": {}}


def test_a_target_of_an_installed_distribution_records_its_version_and_a_new_one_is_named(make_cfg):
    code = code_identity.code_of(OmegaConf.create({"metrics": {"psnr": {"_target_": "numpy.mean"}}}), ("metrics",))
    assert code == {"parts": {}, "distributions": {"numpy": importlib.metadata.version("numpy")}}
    identity = identifying_config(make_cfg())
    assert set(identity["code"]["distributions"]) == {"deepinv", "torch"}  # the model, losses, generator, optimizer
    stored = copy.deepcopy(identity)
    stored["code"]["distributions"]["numpy"] = "0.1"
    with pytest.raises(CheckpointError, match=r"^results.json was made by other code \(numpy 0.1 -> None\): pass"):
        check_same_code(stored, identity, "results.json")


ENV_TERM = ["~loss", "+loss.losses=[{_target_:deepinv.loss.MCLoss,weight:'${oc.env:SSIBENCH_W}'}]", "+loss.label=MC"]


def test_the_identity_holds_the_config_resolved_but_not_the_data_folder_nor_the_device(make_cfg, monkeypatch, tmp_path):
    monkeypatch.setenv("SSIBENCH_W", "1")
    one = identifying_config(make_cfg(*ENV_TERM))
    assert one["loss"]["losses"] == [{"_target_": "deepinv.loss.MCLoss", "weight": "1"}]
    assert one["physics"]["generator"]["img_size"] == [one["img_size"]] * 2  # not ${img_size}
    assert one["dataset"]["root"] == "${paths.data_dir}"  # where the data are: not what they are
    monkeypatch.setenv("SSIBENCH_W", "2")
    with pytest.raises(CheckpointError, match=r"^results.json was made with another config \(loss.losses: "):
        check_same_run(one, identifying_config(make_cfg(*ENV_TERM)), "results.json")

    monkeypatch.setenv("SSIBENCH_W", "1")
    elsewhere = make_cfg(*ENV_TERM, "trainer.device=cuda", f"paths.data_dir={tmp_path / 'elsewhere'}")  # no GPU needed
    assert identifying_config(elsewhere) == one  # resumed on a GPU node, with the data on its scratch disk


def recorded_before_resolving(identity: dict) -> dict:
    """``identity`` as an ssibench before this fingerprint format recorded it: unresolved, devices in,
    and each part hashed alone, without imports or distributions."""
    old = copy.deepcopy(identity)
    for part in ("operator", "generator"):
        old["physics"][part].update(img_size=["${img_size}", "${img_size}"], device="${trainer.device}")
    old["code"] = {key: old["code"][key] for key in ("ssibench", "deepinv", "torch", "parts")}
    return old


OLD_FORMAT = (
    "was made by other code (its code fingerprint is of another format, made by another version of ssibench): "
    "pass resume=false for a fresh run in a new folder, or restore the code it was made with"
)


def test_a_run_recorded_before_this_fingerprint_format_is_refused_for_its_code_in_one_line(make_cfg, tmp_path):
    first = run(make_cfg("loss=zero_filled"))
    path = tmp_path / "run" / "results.json"
    old = recorded_before_resolving({**first["config"], "code": first["code"]})
    results_io.write(path, {**first, "config": {k: v for k, v in old.items() if k != "code"}, "code": old["code"]})
    with pytest.raises(CheckpointError) as error:
        run(make_cfg("loss=zero_filled"))
    assert str(error.value) == f"{path} {OLD_FORMAT}"

    # its checkpoint, had it been killed before its results were written: the same line
    cfg = make_cfg("loss=mc")
    store = checkpoints.CheckpointStore(tmp_path / "killed")
    store.write({"state_dict": {}, "config": recorded_before_resolving(identifying_config(cfg))})
    with pytest.raises(CheckpointError) as error:
        starting_point(cfg, store, identifying_config(cfg))
    assert str(error.value) == f"checkpoint {store.folder / checkpoints.LAST} {OLD_FORMAT}"


OPERATOR_SOURCE = """from ssibench.compat.deepinv import MRI

from operator_parts_{tag} import SCALE


class ScaledMRI(MRI):
    def A(self, x, *args, **kwargs):
        return SCALE * super().A(x, *args, **kwargs)
"""


def test_the_measurement_cache_of_an_edited_operator_of_ones_own_is_not_reused(own_code, make_cfg, tmp_path):
    tag = tmp_path.name
    operator = OPERATOR_SOURCE.format(tag=tag)
    folder = own_code({f"operator_{tag}.py": operator, f"operator_parts_{tag}.py": "SCALE = 1\n"})
    cfg = make_cfg(f"physics.operator._target_=operator_{tag}.ScaledMRI")
    key = cache_key(cfg)
    assert key["code"]["parts"]["physics.operator"]["imports"] == {
        f"operator_parts_{tag}.py": hashlib.sha256(b"SCALE = 1\n").hexdigest()
    }
    assert key["code"]["distributions"] == {"deepinv": importlib.metadata.version("deepinv")}  # the mask generator
    # the scenario's MC term does not make the measurements: its config is in the key, its code is not
    not_simulating = make_cfg(f"physics.mc_loss._target_=operator_{tag}.ScaledMRI")
    not_simulating_key = cache_key(not_simulating)
    (folder / f"operator_parts_{tag}.py").write_text("SCALE = 2\n")
    assert cache_path(DataDir("c"), cache_key(cfg)) != cache_path(DataDir("c"), key)
    assert cache_key(not_simulating) == not_simulating_key
