"""GPU pinning of parallel jobs, tested without a GPU: a faked GPU count, real file locks and processes."""

from __future__ import annotations

import multiprocessing
import threading
import time
from contextlib import ExitStack, contextmanager

import pytest
import torch
from conftest import CONF, run_forked
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import ssibench.run
from ssibench.cluster.gpu_slots import gpu_slot
from ssibench.errors import InputError


@pytest.fixture
def fake_gpus(monkeypatch):
    """``fake_gpus(n)``: torch sees ``n`` GPUs; returns a one-item list holding the current device."""
    current = [0]

    def install(n_gpus: int) -> list[int]:
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n_gpus)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current[0])
        monkeypatch.setattr(torch.cuda, "set_device", lambda index: current.__setitem__(0, index))
        return current

    return install


def test_jobs_fill_every_gpu_before_one_gets_a_second(fake_gpus, tmp_path):
    current = fake_gpus(2)
    with ExitStack() as stack:
        claimed = []
        for _ in range(4):
            claimed.append(stack.enter_context(gpu_slot("cuda", jobs_per_gpu=2, lock_dir=tmp_path)))
            assert current[0] == int(claimed[-1].split(":")[1])  # the claimed GPU is the current device
        assert claimed == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert current[0] == 0  # restored when the job ends


@pytest.mark.parametrize(("device", "n_gpus"), [("cpu", 2), ("cuda:1", 2), ("cuda", 1)])
def test_only_plain_cuda_on_several_gpus_is_pinned(fake_gpus, tmp_path, device, n_gpus):
    current = fake_gpus(n_gpus)
    with gpu_slot(device, jobs_per_gpu=1, lock_dir=tmp_path / "locks") as claimed:
        assert claimed == device and current[0] == 0
    assert not (tmp_path / "locks").exists()


def test_a_failing_job_frees_its_slot(fake_gpus, tmp_path):
    fake_gpus(2)
    with pytest.raises(RuntimeError, match="boom"), gpu_slot("cuda", lock_dir=tmp_path) as claimed:
        assert claimed == "cuda:0"
        raise RuntimeError("boom")
    with gpu_slot("cuda", lock_dir=tmp_path) as first, gpu_slot("cuda", lock_dir=tmp_path) as second:
        assert (first, second) == ("cuda:0", "cuda:1")


def test_a_job_waits_for_a_free_slot_and_says_so_once(fake_gpus, tmp_path, capsys):
    fake_gpus(2)
    first, second = (gpu_slot("cuda", lock_dir=tmp_path) for _ in range(2))
    assert (first.__enter__(), second.__enter__()) == ("cuda:0", "cuda:1")
    got = []

    def third_job():
        with gpu_slot("cuda", lock_dir=tmp_path, poll_seconds=0.02) as claimed:
            got.append(claimed)

    waiter = threading.Thread(target=third_job)
    waiter.start()
    time.sleep(0.3)
    assert got == []  # both GPUs are busy
    second.__exit__(None, None, None)
    waiter.join(timeout=10)
    first.__exit__(None, None, None)
    assert got == ["cuda:1"]
    assert capsys.readouterr().out.count("GPU slots") == 1


def test_jobs_per_gpu_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="trainer.jobs_per_gpu=0: give 1 or more"), gpu_slot("cuda", 0, tmp_path):
        pass


def _job(lock_dir, held_dir, hold_seconds, report):
    """One job process: claim a slot, count the jobs holding the same GPU meanwhile, report."""
    with gpu_slot("cuda", jobs_per_gpu=2, lock_dir=lock_dir, poll_seconds=0.02) as claimed:
        gpu = claimed.split(":")[1]
        marker = held_dir / f"gpu{gpu}-{multiprocessing.current_process().pid}"
        marker.touch()
        sharing = len(list(held_dir.glob(f"gpu{gpu}-*")))
        time.sleep(hold_seconds)
        marker.unlink()
        report.put((gpu, sharing, torch.cuda.current_device()))


def test_concurrent_processes_never_exceed_the_jobs_per_gpu(fake_gpus, tmp_path):
    fake_gpus(2)  # inherited by the forked jobs
    held_dir = tmp_path / "held"
    held_dir.mkdir()
    outcomes = run_forked(_job, [(tmp_path / "locks", held_dir, 0.4)] * 7, timeout=60)
    assert max(sharing for _, sharing, _ in outcomes) <= 2
    assert {gpu for gpu, _, _ in outcomes} == {"0", "1"}
    assert all(int(gpu) == current for gpu, _, current in outcomes)


def test_the_gpus_launcher_runs_jobs_per_gpu_on_each_gpu(monkeypatch):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("config", overrides=["hydra/launcher=gpus", "trainer.jobs_per_gpu=3"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    for n_gpus, n_jobs in ((4, 12), (0, 3)):  # no GPU: jobs_per_gpu jobs on the CPU
        monkeypatch.setattr(torch.cuda, "device_count", lambda n=n_gpus: n)
        assert cfg.hydra.launcher.n_jobs == n_jobs


def test_a_run_records_the_gpu_it_was_given(monkeypatch, make_cfg):
    asked = []

    @contextmanager
    def fake_slot(device, jobs_per_gpu):
        asked.append((device, jobs_per_gpu))
        yield "cuda:1"

    monkeypatch.setattr(ssibench.run, "gpu_slot", fake_slot)
    results = ssibench.run.run(make_cfg("loss=zero_filled", "trainer.device=cpu", "trainer.jobs_per_gpu=2"))
    assert asked == [("cpu", 2)] and results["device"] == "cuda:1"


def test_a_bad_jobs_per_gpu_is_refused_as_bad_input(make_cfg, tmp_path):
    with pytest.raises(InputError, match="trainer.jobs_per_gpu=0"):
        ssibench.run.run(make_cfg("loss=zero_filled", "trainer.jobs_per_gpu=0"))
    assert not (tmp_path / "run" / "results.json").exists()  # a single run's bad input leaves no record
