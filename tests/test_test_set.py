"""One test set on every device: the measurements are simulated on the CPU whatever the training
device, and every result carries the fingerprint of the test set it was scored on."""

from __future__ import annotations

from conftest import trainer_for  # noqa: F401  (conftest first: it registers the schemas)
from ssibench.data.measurements import cache_key
from ssibench.data.pipeline import fingerprint, measurements, simulated_cache
from ssibench.run import run


def test_the_cache_does_not_depend_on_the_training_device(make_cfg, tmp_path):
    assert cache_key(make_cfg("physics=noisy")) == cache_key(make_cfg("physics=noisy", "trainer.device=cuda"))
    cpu = make_cfg("physics=noisy", f"paths.data_dir={tmp_path / 'cpu'}")
    cuda = make_cfg("physics=noisy", "trainer.device=cuda", f"paths.data_dir={tmp_path / 'cuda'}")  # no GPU needed
    made_for_cpu, made_for_cuda = simulated_cache(cpu), simulated_cache(cuda)
    for suffix in (".h5", ".physics.pt"):
        assert made_for_cpu.with_suffix(suffix).read_bytes() == made_for_cuda.with_suffix(suffix).read_bytes()


def test_results_carry_the_fingerprint_of_their_test_set(make_cfg, tmp_path):
    mc = run(make_cfg("loss=mc", output_dir=tmp_path / "mc"))
    zero_filled = run(make_cfg("loss=zero_filled", output_dir=tmp_path / "zf"))
    other_masks = run(make_cfg("loss=zero_filled", "physics.acceleration=8", output_dir=tmp_path / "acc8"))
    other_seed = run(make_cfg("loss=zero_filled", "seed=1", output_dir=tmp_path / "seed1"))
    assert mc["test_set"] == zero_filled["test_set"] == fingerprint(measurements(make_cfg("loss=mc")).test)
    assert len({zero_filled["test_set"], other_masks["test_set"], other_seed["test_set"]}) == 3
