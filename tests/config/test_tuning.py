"""Equal-budget tuning (+tune=quasirandom, ssibench/config/tuning.py): every loss declares its search space;
trial 0 is the defaults, trial k > 0 a quasirandom point fixed by (space, seed, k); a trial is an ordinary run
whose identity and results hold its values, on the same measurements; a -m sweep runs one job per trial."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import CONF, LOSSES, assert_ok, launch, runnable
from omegaconf import OmegaConf, open_dict

from ssibench.config.context import RunContext, identifying_config
from ssibench.config.schema import SearchDimension
from ssibench.config.tuning import Dimension, apply_trial, check, search_space, trial_values
from ssibench.data.measurement_cache import cache_key
from ssibench.data.pipeline import measurements
from ssibench.errors import InputError
from ssibench.parts.assembly import assemble
from ssibench.run import run

LR = "trainer.optimizer.lr"
TUNE = ("+tune=quasirandom", "tune.trials=8")


def _scenario(loss: str) -> list[str]:
    return [] if runnable(loss, "mri") else ["physics=noisy"]


def _line_above(key: str, loss: str) -> str | None:
    """The line above ``key``'s entry in the loss's YAML or the one it extends (its citation)."""
    for path in (CONF / "loss").glob("*.yaml"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith(f"{key}:") and i > 0:
                return lines[i - 1].strip()
    return None


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_declares_a_search_space_whose_keys_are_in_its_config(loss, make_cfg):
    assert "search_space" in (CONF / "loss" / f"{loss}.yaml").read_text()  # its own, or whose it inherits
    cfg = make_cfg(f"loss={loss}", *TUNE, *_scenario(loss))
    space = search_space(cfg)  # parses, and raises for a key that is not a path of the composed config
    if not cfg.loss.losses:  # zero_filled trains nothing: one trial, its defaults
        assert space == [] and trial_values(space, 0, 5) == {}
        return
    assert [d.key for d in space if not d.key.startswith("loss.")] == [LR]  # the one common range, declared once
    assert LR not in cfg.loss.search_space and LR in cfg.tune.space
    for dimension in space:
        default = OmegaConf.select(cfg, dimension.key)  # the paper's / original benchmark's value
        if dimension.choices is not None:
            assert default in dimension.choices
        else:
            assert dimension.low <= default <= dimension.high, (dimension, default)
        if dimension.key != LR:
            citation = _line_above(dimension.key, loss) or ""
            assert citation.startswith("#"), f"{dimension.key}: no comment citing its value"


def _attributes(parts) -> dict[str, object]:
    """Every scalar attribute of a run's instantiated loss terms and D's, by path (``losses.1.weight``),
    and its optimizers' learning rates: what a trial's values must reach."""
    found: dict[str, object] = {}
    seen: set[int] = set()

    def walk(obj, path: str) -> None:
        if isinstance(obj, (bool, int, float, str)):
            found[path] = obj
        elif isinstance(obj, torch.Tensor):
            if obj.numel() == 1:
                found[path] = float(obj)
        elif id(obj) in seen or isinstance(obj, torch.Generator):
            return
        elif isinstance(obj, (list, tuple, dict)):
            seen.add(id(obj))
            for key, item in (obj.items() if isinstance(obj, dict) else enumerate(obj)):
                walk(item, f"{path}.{key}")
        elif hasattr(obj, "__dict__"):
            seen.add(id(obj))
            for name, item in vars(obj).items():
                if name in ("_modules", "_parameters", "_buffers"):
                    walk(item, path)  # a module's children and tensors, under their own names
                elif not name.startswith("_"):
                    walk(item, f"{path}.{name}")

    walk(parts.losses, "losses")
    walk(parts.losses_d, "losses_d")
    optimizers = {"optimizer": parts.optimizer.G, "optimizer_d": parts.optimizer.D} if parts.adversarial else {
        "optimizer": parts.optimizer}
    for name, optimizer in optimizers.items():
        for k, group in enumerate(optimizer.param_groups):
            found[f"{name}.{k}.lr"] = group["lr"]
    return found


@pytest.mark.parametrize("loss", LOSSES)
def test_every_searched_key_reaches_the_instantiated_loss(loss, make_cfg):
    """Trial 0 builds the very terms of an untuned run; a trial k > 0 sets each key of the loss's space in
    the instantiated objects (a term's weight, a generator's ratio, the optimizer's lr), not only in the
    config: some attribute that held the key's default holds the trial's value."""
    tune = ("+tune=quasirandom", "tune.trials=4", *_scenario(loss))
    defaults = make_cfg(f"loss={loss}", *tune)
    space = search_space(defaults)
    if not space:  # trains nothing
        return
    data = measurements(defaults)  # the same for every trial (one cache key)
    before = _attributes(assemble(defaults, data, "cpu"))
    assert before == _attributes(assemble(make_cfg(f"loss={loss}", *_scenario(loss)), data, "cpu"))
    pending = {dimension.key: OmegaConf.select(defaults, dimension.key) for dimension in space}
    for trial in range(1, 4):
        cfg = make_cfg(f"loss={loss}", *tune, f"tune.trial={trial}")
        values = apply_trial(cfg)
        after = _attributes(assemble(cfg, data, "cpu"))
        for key, value in values.items():
            if key not in pending or value == pending[key]:  # a choice may draw the default: another trial
                continue
            reached = [path for path, now in after.items() if isinstance(now, (int, float))
                       and now == pytest.approx(value) and before.get(path) == pytest.approx(pending[key])]
            assert reached, f"{loss}: {key}={value} (default {pending[key]}) is set in no instantiated attribute"
            del pending[key]
        if not pending:
            break
    assert not pending, f"{loss}: trials 1-3 never moved {sorted(pending)} off their defaults"


def test_trial_zero_is_the_defaults(make_cfg):
    plain = make_cfg("loss=ssdu")
    cfg = make_cfg("loss=ssdu", "+tune=quasirandom", "tune.trials=4")
    assert cfg.tune.trial == 0 and apply_trial(cfg) == {}
    assert cfg.loss.splitting.mask_generator.split_ratio == 0.6 and cfg.trainer.optimizer.lr == pytest.approx(1e-3)
    tuned, untuned = identifying_config(cfg), identifying_config(plain)
    assert tuned.pop("tune") == {"trial": 0, "values": {}}
    assert tuned == untuned  # the defaults' run, but for its trial index


def test_trials_are_deterministic_per_seed_and_differ_across_seeds():
    space = [Dimension(LR, "log", 1e-4, 1e-2), Dimension("loss.x", "linear", 0.2, 0.9)]
    space.append(Dimension("loss.c", choices=(1, 2, 3)))
    first = [trial_values(space, 0, k) for k in range(1, 8)]
    trial_values(space[:1], 5, 3)  # other spaces and seeds drawn in between change nothing
    assert [trial_values(space, 0, k) for k in range(1, 8)] == first
    assert [trial_values(space, 1, k) for k in range(1, 8)] != first
    assert len({json.dumps(v, sort_keys=True) for v in first}) == len(first)  # distinct points
    # the same on every machine: scrambled Halton seeded from the run's seed only (a change of it shows here)
    assert trial_values(space[:1], 0, 1) == {LR: 0.00110183} and trial_values(space[:1], 1, 1) == {LR: 0.00036531}


def test_values_lie_in_their_ranges_and_scales():
    space = [Dimension("loss.c", choices=("a", "b", "c", "d")), Dimension("loss.lin", "linear", 0.2, 0.9),
             Dimension("trainer.lr", "log", 1e-4, 1e-2)]
    points = [trial_values(space, 3, k) for k in range(1, 65)]
    linear, log, choices = ([p[d.key] for p in points] for d in (space[1], space[2], space[0]))
    assert all(0.2 <= v <= 0.9 for v in linear) and all(1e-4 <= v <= 1e-2 for v in log)
    assert abs(sum(v < 0.55 for v in linear) / 64 - 0.5) < 0.1  # uniform in the value
    assert abs(sum(v < 1e-3 for v in log) / 64 - 0.5) < 0.1  # uniform in the logarithm (1e-3: the middle)
    assert abs(sum(math.log10(v) < -3.5 for v in log) / 64 - 0.25) < 0.1
    assert {c: choices.count(c) for c in "abcd"} == pytest.approx({c: 16 for c in "abcd"}, abs=4)


@pytest.mark.parametrize(
    "where,key,spec,message",
    [
        ("loss", "loss.splitting.mask_generator.split_ratio", {"scale": "logg", "low": 0.1, "high": 0.9},
         r"split_ratio\]\.scale is 'logg', not log or linear: use \{scale: log\|linear"),
        ("loss", "loss.splitting.mask_generator.split_ratio", {"scale": "linear", "low": 0.9, "high": 0.1},
         r"low=0.9 and high=0.1 must be numbers with low < high"),
        ("loss", "loss.splitting.mask_generator.split_ratio", {"scale": "log", "low": 0.0, "high": 0.9},
         r"a log scale needs low > 0"),
        ("loss", "loss.splitting.mask_generator.split_ratio", {"choices": []}, r"choices must be a non-empty list"),
        ("loss", "loss.splitting.mask_generator.split_ratoi", {"scale": "linear", "low": 0.1, "high": 0.9},
         r"split_ratoi is not a key of the composed config \(did you mean loss.splitting.mask_generator.split_ratio"),
        ("loss", "loss.losses.0.mask_generator.split_ratio", {"scale": "linear", "low": 0.1, "high": 0.9},
         r"passes through loss.losses.0, which is \$\{loss.splitting\}"),
        ("loss", "physics.acceleration", {"scale": "linear", "low": 2, "high": 8}, r"would change the data"),
        ("loss", LR, {"scale": "log", "low": 1e-5, "high": 1e-1}, r"searched for every loss \(tune.space"),
        ("tune", LR, {"scale": "log", "low": 1e-2, "high": 1e-4}, r"tune.space\[trainer.optimizer.lr\]: low=0.01"),
    ],
)
def test_a_bad_search_space_is_refused_in_one_line(where, key, spec, message, make_cfg):
    cfg = make_cfg("loss=ssdu", *TUNE)
    with open_dict(cfg):
        node = cfg.loss.search_space if where == "loss" else cfg.tune.space
        node[key] = SearchDimension(**spec)
    with pytest.raises(InputError, match=message) as error:
        check(cfg)
    assert "\n" not in str(error.value)
    RunContext.from_hydra(cfg)  # the context leaves it to the run's first check, which says it in one line
    with pytest.raises(InputError, match=message):
        run(cfg)


@pytest.mark.parametrize("overrides,message", [(["tune.trial=8"], "tune.trial=8 is not one of the 8 trials"),
                                               (["tune.trials=0"], "tune.trials must be an integer >= 1")])
def test_a_trial_outside_the_trials_is_refused(overrides, message, make_cfg):
    with pytest.raises(InputError, match=message):
        run(make_cfg("loss=mc", *TUNE, *overrides))


def test_a_trials_values_reach_the_identity_and_the_results(make_cfg, tmp_path):
    cfg = make_cfg("loss=ssdu", *TUNE, "tune.trial=3")
    expected = trial_values(search_space(cfg), 0, 3)
    assert set(expected) == {"loss.splitting.mask_generator.split_ratio", LR}
    results = run(cfg)
    assert results["status"] == "ok"
    stored = json.loads((tmp_path / "run" / "results.json").read_text())["config"]
    assert stored["tune"] == {"trial": 3, "values": expected}
    split_ratio = stored["loss"]["splitting"]["mask_generator"]["split_ratio"]
    assert split_ratio == expected["loss.splitting.mask_generator.split_ratio"]
    assert stored["trainer"]["optimizer"]["lr"] == expected[LR] != 1e-3
    assert "search_space" not in stored["loss"] and "trials" not in stored["tune"]  # what it is, not how it was drawn
    assert results["config"] == stored
    # the identity is the trial's whatever the number of trials: trial 3 of 8 is trial 3 of 16
    longer = make_cfg("loss=ssdu", *TUNE, "tune.trial=3", "tune.trials=16")
    identity = RunContext.from_hydra(longer).identity
    assert {key: value for key, value in identity.items() if key != "code"} == stored  # results.json: code apart


def test_the_measurement_cache_key_is_the_same_for_every_trial(make_cfg):
    keys = []
    for trial in range(4):
        cfg = make_cfg("loss=vortex", *TUNE, f"tune.trial={trial}")
        context = RunContext.from_hydra(cfg)
        assert context.identity["tune"]["trial"] == trial
        keys.append(json.dumps(cache_key(cfg), sort_keys=True))
    keys.append(json.dumps(cache_key(make_cfg("loss=vortex")), sort_keys=True))  # and an untuned run's
    assert len(set(keys)) == 1


def test_a_sweep_runs_one_job_per_trial_in_folders_of_their_own(tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    proc = launch(
        "-m", "+tune=quasirandom", "tune.trials=2", "debug=smoke", "loss=mc", "trainer.device=cpu",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data_dir=data_dir, timeout=300,
    )
    assert_ok(proc)
    found = {}
    for path in sweep_dir.glob("*/results.json"):
        results = json.loads(path.read_text())
        assert results["status"] == "ok"
        found[results["config"]["tune"]["trial"]] = (path.parent.name, results["config"])
    assert sorted(found) == [0, 1]
    (name0, config0), (name1, config1) = found[0], found[1]
    assert name0 != name1 and "tune.trial=1" in name1 and "tune.trials" not in name1
    assert config0["tune"]["values"] == {} and config0["trainer"]["optimizer"]["lr"] == pytest.approx(1e-3)
    assert config1["tune"]["values"] == {LR: config1["trainer"]["optimizer"]["lr"]} != {LR: 1e-3}
