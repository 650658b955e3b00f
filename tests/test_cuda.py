"""The GPU path, run where a CUDA device is present (skipped elsewhere: CI has no GPU). Every other
test pins the CPU, so on a GPU machine the suite tests both."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import LOSSES, runnable, trainer_for

from ssibench.folders import RunDir
from ssibench.run import run
from ssibench.training import checkpoints
from ssibench.training.trainer import BenchmarkTrainer

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TRAINED = [loss for loss in LOSSES if loss != "zero_filled"]


def _scenario(loss: str) -> str:
    return "mri" if runnable(loss, "mri") else "noisy"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("loss", TRAINED)
def test_every_loss_trains_and_scores_on_cuda(loss, precision, make_cfg):
    results = run(make_cfg(f"loss={loss}", f"physics={_scenario(loss)}", "trainer.device=cuda", f"trainer.precision={precision}"))
    assert results["status"] == "ok" and results["device"].startswith("cuda"), results["reason"]
    assert results["cost"]["device_type"] == "cuda" and results["cost"]["peak_memory_mb"] > 0
    assert all(math.isfinite(v) for v in results["per_image"]["PSNR"])


def test_a_cuda_run_is_scored_on_the_cpu_made_test_set(make_cfg, tmp_path):
    cpu = run(make_cfg("loss=zero_filled", "physics=noisy", output_dir=tmp_path / "cpu"))
    gpu = run(make_cfg("loss=zero_filled", "physics=noisy", "trainer.device=cuda", output_dir=tmp_path / "gpu"))
    assert gpu["test_set"] == cpu["test_set"]  # the same measurements, byte for byte
    # the same images scored by the same metric; only the FFTs' rounding differs between devices
    assert gpu["zero_filled"]["PSNR"]["mean"] == pytest.approx(cpu["zero_filled"]["PSNR"]["mean"], abs=1e-4)


def test_a_resumed_cuda_run_restores_the_cuda_generators(make_cfg, tmp_path):
    """As tests/training/test_random_streams.py's test of the CPU's default generator, on CUDA."""
    # robust_ei's SURE term draws its probe noise from the default generator of y's device: the CUDA one
    config = ("loss=robust_ei", "physics=noisy", "trainer.device=cuda")
    run(make_cfg(*config, "epochs=1", output_dir=tmp_path / "run"))
    saved = torch.load(RunDir(tmp_path / "run").checkpoints / checkpoints.LAST, weights_only=True)["random_streams"]
    trainer = trainer_for(make_cfg(*config, "epochs=2"), output_dir=tmp_path / "run")  # seeds the globals again
    built = torch.cuda.get_rng_state_all()
    assert not all(torch.equal(now, then) for now, then in zip(built, saved["cuda"]))  # training drew from them
    torch.cuda.manual_seed_all(12345)  # anything else: only the restore can bring the saved states back
    trainer.setup_train()
    assert all(torch.equal(now, then) for now, then in zip(torch.cuda.get_rng_state_all(), saved["cuda"]))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="a GPU slot pins a job only on a node with 2+ GPUs")
def test_a_job_given_a_gpu_slot_trains_on_that_gpu(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr("ssibench.cluster.gpu_slots.default_lock_dir", lambda: tmp_path / "slots")  # slots of this test's own
    seen, setup = [], BenchmarkTrainer.setup_train

    def recording(self, *args, **kwargs):
        seen.append(next(self.model.parameters()).device)
        return setup(self, *args, **kwargs)

    monkeypatch.setattr(BenchmarkTrainer, "setup_train", recording)
    results = run(make_cfg("loss=mc", "trainer.device=cuda", "trainer.jobs_per_gpu=1"))
    assert results["device"] == f"cuda:{seen[0].index}" and seen[0].type == "cuda"
