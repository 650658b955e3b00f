"""Correctness of the performance features: reduced precision, the batched cache, loader settings, the bench."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest
import torch
from conftest import LOSSES, runnable, trainer_for
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Subset

from ssibench.data.loader import loader_options
from ssibench.data.measurement_cache import cache_key, simulate_measurements
from ssibench.parts.scenarios import build_scenario
from ssibench.training.precision import WatchedGradScaler, learned_networks

TRAINED = [loss for loss in LOSSES if loss != "zero_filled"]
# fp16 has no fast CPU kernels (one debug=smoke step at 32x32 took ~15 s, mostly its backward pass):
# its CPU tests step at 16x16.
FP16_ON_CPU = ("img_size=16",)


def _one_batch_trainer(make_cfg, tmp_path, *overrides):
    cfg = make_cfg(*overrides)
    batch = cfg.trainer.batch_size
    return trainer_for(cfg, lambda train: DataLoader(Subset(train, range(batch)), batch_size=batch), tmp_path)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("loss", TRAINED)
def test_reduced_precision_step_is_finite_and_runs_the_network_in_reduced_precision(loss, precision, make_cfg, tmp_path):
    physics = "mri" if runnable(loss, "mri") else "noisy"
    size = FP16_ON_CPU if precision == "fp16" else ()
    trainer = _one_batch_trainer(
        make_cfg, tmp_path, f"loss={loss}", f"physics={physics}", f"trainer.precision={precision}", *size
    )
    dtypes = []
    first_conv = next(m for m in learned_networks(trainer.model)[0].modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train()  # one step
    assert dtypes and set(dtypes) == {getattr(torch, {"bf16": "bfloat16", "fp16": "float16"}[precision])}
    assert all(torch.isfinite(torch.tensor(v)).all() for v in trainer.loss_history.values())
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    if precision == "bf16":  # fp16 may skip a first step while the grad scale settles
        assert any(not torch.equal(b, a) for b, a in zip(before, trainer.model.parameters()))


@pytest.mark.parametrize("loss", ["mc", "adversarial"])
def test_fp16_scaler_lets_the_weights_change_within_a_few_steps(loss, make_cfg, tmp_path):
    trainer = _one_batch_trainer(make_cfg, tmp_path, f"loss={loss}", "trainer.precision=fp16", "epochs=3", *FP16_ON_CPU)
    networks = [trainer.model] + ([trainer.D] if getattr(trainer, "D", None) is not None else [])
    before = [[p.detach().clone() for p in net.parameters()] for net in networks]
    trainer.train()
    assert trainer.scaler.is_enabled() and trainer.scaler.skipped_in_a_row < 3
    for net, old in zip(networks, before):
        assert any(not torch.equal(b, a) for b, a in zip(old, net.parameters())), type(net).__name__


def test_fp16_scaler_stops_instead_of_skipping_every_step():
    weight = torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scaler = WatchedGradScaler("cpu", enabled=True, max_skipped=3)
    with pytest.raises(FloatingPointError, match="3 optimizer steps in a row skipped"):
        for _ in range(3):
            optimizer.zero_grad()
            scaler.scale((weight * float("inf")).sum()).backward()
            scaler.step(optimizer)
            scaler.update()
    assert weight.item() == 1.0


def test_reduced_precision_keeps_checkpoint_names_and_evaluates_in_fp32(make_cfg, tmp_path):
    fp32 = _one_batch_trainer(make_cfg, tmp_path, "trainer.precision=fp32")
    bf16 = _one_batch_trainer(make_cfg, tmp_path, "trainer.precision=bf16")
    assert list(fp32.model.state_dict()) == list(bf16.model.state_dict())
    y, physics = torch.rand(1, 2, 32, 32), fp32.physics
    bf16.model.eval()
    with torch.no_grad():
        assert bf16.model(y, physics).dtype == torch.float32
        assert torch.allclose(bf16.model(y, physics), fp32.model(y, physics))  # same weights, both fp32


def _simulate(cfg, batch_size, tmp_path):
    train_images, test_images = instantiate(cfg.split)(instantiate(cfg.dataset))
    physics, generator = build_scenario(cfg.physics, cfg.seed, device="cpu")  # caches are made on the CPU
    path = tmp_path / f"batch{batch_size}.h5"
    simulate_measurements(path, cache_key(cfg), train_images, test_images, physics, generator, batch_size, progress_bar=False)
    with h5py.File(path) as f:
        return {name: f[name][()] for name in f}, physics


@pytest.mark.parametrize("scenario", ["noisy", "multicoil"])
def test_batched_cache_matches_the_one_image_path(scenario, make_cfg, tmp_path):
    cfg = make_cfg(f"physics={scenario}")
    one, physics = _simulate(cfg, 1, tmp_path)
    batched, _ = _simulate(cfg, 64, tmp_path)
    assert one.keys() == batched.keys() == {f"{k}_{s}" for k in ("x", "y", "mask") for s in ("train", "test")}
    for name in one:
        assert one[name].shape == batched[name].shape and one[name].dtype == batched[name].dtype, name
    for data in (one, batched):
        mask = data["mask_train"]
        assert len({m.tobytes() for m in mask}) == len(mask)  # a mask per image
        assert 1 / mask.mean() == pytest.approx(cfg.physics.acceleration, rel=0.1)
        # the saved masks reproduce y from x, up to the scenario's noise
        physics.update(mask=torch.from_numpy(mask))
        x, y = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
        residual = y - physics.A(x)
        measured = residual[physics.A(torch.ones_like(x)) != 0]
        sigma = cfg.physics.sigma if scenario == "noisy" else 0.0
        assert measured.std().item() == pytest.approx(sigma, abs=0.01)
    # the generator draws each image's mask and noise in the same order at any batch size
    assert all(np.array_equal(one[name], batched[name]) for name in one)


def test_loader_settings_follow_the_device_and_can_be_overridden():
    base = {"num_workers": "auto", "pin_memory": "auto", "persistent_workers": "auto", "worker_start_method": "auto"}
    assert loader_options(OmegaConf.create({**base, "device": "cpu"})) == {
        "num_workers": 0, "pin_memory": False, "persistent_workers": False,
    }
    cuda = loader_options(OmegaConf.create({**base, "device": "cuda"}))
    assert cuda["num_workers"] > 0 and cuda["pin_memory"] and cuda["persistent_workers"]
    assert loader_options(OmegaConf.create({**base, "device": "cuda", "num_workers": 0}))["persistent_workers"] is False
    # workers never start by the ambient method (loky's inside joblib workers cannot start them)
    assert cuda["multiprocessing_context"] in ("fork", "spawn")
    spawned = loader_options(OmegaConf.create({**base, "device": "cpu", "num_workers": 2, "worker_start_method": "spawn"}))
    assert spawned["multiprocessing_context"] == "spawn"
    with pytest.raises(ValueError, match="worker_start_method=threads"):
        loader_options(OmegaConf.create({**base, "device": "cpu", "num_workers": 2, "worker_start_method": "threads"}))
    with pytest.raises(ValueError, match="num_workers"):
        loader_options(OmegaConf.create({**base, "device": "cpu", "num_workers": "many"}))


def test_bench_help(capsys):
    from ssibench.tools.bench import main

    with pytest.raises(SystemExit) as exit_code:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_code.value.code == 0 and "--precision" in out and "--channels-last" in out


def test_bench_smoke_run_writes_its_table(data_dir, tmp_path):
    from ssibench.tools.bench import main

    out = tmp_path / "bench"
    args = ["--losses", "mc", "--precision", "fp32,bf16", "--steps", "1", "--warmup", "0", "--rounds", "1"]
    rows = main([*args, "--out", str(out), "debug=smoke", "trainer.device=cpu", f"paths.data_dir={data_dir}"])
    assert [r["config"] for r in rows] == ["bare deepinv (fp32)", "fp32", "bf16"]
    assert rows[0]["time_vs_bare"] == 1.0 and all(r["s_per_step"] > 0 and 0 <= r["data_fraction"] <= 1 for r in rows)
    # the same network work in every configuration, counted once each: FLOP/s × s/step agree
    flops = [r["tflops"] * r["s_per_step"] for r in rows]
    assert flops[0] > 0 and max(flops) == pytest.approx(min(flops), rel=1e-6)
    assert all(0 < r["of_matmul"] for r in rows)
    with open(out / "bench.csv") as f:
        assert len(list(csv.DictReader(f))) == 3
    assert "| mc | bf16 |" in (out / "bench.md").read_text()


def test_bench_evaluation_times_the_validation_and_test_passes_of_an_epoch(data_dir, capsys):
    from ssibench.tools.bench import main

    rows = main(["--evaluation", "--losses", "mc,zero_filled", "--rounds", "1", "debug=smoke", "trainer.device=cpu",
                 f"paths.data_dir={data_dir}"])  # fmt: skip
    assert [r["loss"] for r in rows] == ["mc"]  # zero_filled trains nothing: no epoch to time
    assert rows[0]["n_val"] == 2 and rows[0]["n_test"] == 4 and rows[0]["n_train"] == 6
    assert all(rows[0][key] > 0 for key in ("train_epoch_s", "validation_s", "test_s"))
    assert "| mc | 6 |" in capsys.readouterr().out
