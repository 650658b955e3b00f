"""One test set on every device and CPU: the measurements are simulated on the CPU whatever the
training device, and every result carries the fingerprint of the test set it was scored on (its bits)
and its signature (its values up to the rounding of the CPU's kernels)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import torch
from conftest import trainer_for  # noqa: F401  (conftest first: it registers the schemas)

from ssibench.data.measurement_cache import cache_key
from ssibench.data.pipeline import measurements, simulated_cache
from ssibench.data.test_set_identity import fingerprint, same_values, signature
from ssibench.run import run


def test_the_cache_does_not_depend_on_the_training_device(make_cfg, tmp_path):
    assert cache_key(make_cfg("physics=noisy")) == cache_key(make_cfg("physics=noisy", "trainer.device=cuda"))
    cpu = make_cfg("physics=noisy", f"paths.data_dir={tmp_path / 'cpu'}")
    cuda = make_cfg("physics=noisy", "trainer.device=cuda", f"paths.data_dir={tmp_path / 'cuda'}")  # no GPU needed
    (made_for_cpu, _), (made_for_cuda, _) = simulated_cache(cpu), simulated_cache(cuda)
    for suffix in (".h5", ".physics.pt"):
        assert made_for_cpu.with_suffix(suffix).read_bytes() == made_for_cuda.with_suffix(suffix).read_bytes()


def test_results_carry_the_fingerprint_and_signature_of_their_test_set(make_cfg, tmp_path):
    mc = run(make_cfg("loss=mc", output_dir=tmp_path / "mc"))
    zero_filled = run(make_cfg("loss=zero_filled", output_dir=tmp_path / "zf"))
    other_masks = run(make_cfg("loss=zero_filled", "physics.acceleration=8", output_dir=tmp_path / "acc8"))
    other_seed = run(make_cfg("loss=zero_filled", "seed=1", output_dir=tmp_path / "seed1"))
    test = measurements(make_cfg("loss=mc")).test
    assert mc["test_set"] == zero_filled["test_set"] == fingerprint(test)
    assert len({zero_filled["test_set"], other_masks["test_set"], other_seed["test_set"]}) == 3
    assert mc["test_signature"] == zero_filled["test_signature"] == json.loads(json.dumps(signature(test)))
    assert sorted(mc["test_signature"]) == ["params.mask", "x", "y"]
    for other in (other_masks, other_seed):
        assert not same_values(zero_filled["test_signature"], other["test_signature"])


def _items(dataset) -> list:
    return [tuple(dataset[i]) for i in range(len(dataset))]


def test_the_signature_holds_through_rounding_and_tells_other_data_apart(make_cfg):
    items = _items(measurements(make_cfg("physics=noisy")).test)
    reference = signature(items)
    generator = torch.Generator().manual_seed(0)

    def rounded(t):  # a few float32 ulps, as another FFT or random-number kernel rounds
        return t * (1 + 2e-7 * torch.randn(t.shape, generator=generator))

    rounded_items = [(rounded(x), rounded(y), params) for x, y, params in items]
    assert fingerprint(rounded_items) != fingerprint(items) and same_values(reference, signature(rounded_items))

    x, y, params = items[0]
    mask = params["mask"].clone()
    mask[..., 3] = 1 - mask[..., 3]  # one k-space line of one image sampled otherwise
    one_line = [(x, y, {"mask": mask}), *items[1:]]
    noisier = [(x, y + 1e-3 * y.std() * torch.randn(y.shape, generator=generator), params), *items[1:]]
    swapped = [items[1], items[0], *items[2:]]  # the same images in another order
    fewer = items[:-1]
    for other in (one_line, noisier, swapped, fewer):
        assert not same_values(reference, signature(other))


SIGN_ELSEWHERE = """
import json, sys
from pathlib import Path
from ssibench.config.context import compose_config
from ssibench.data.pipeline import measurements
cfg = compose_config(sys.argv[1:], Path(".").resolve())
data = measurements(cfg)
print(json.dumps({"test_set": data.test_set, "test_signature": data.test_signature}))
"""


def test_a_cpu_whose_kernels_round_otherwise_gives_the_same_signature(make_cfg, data_dir, tmp_path):
    """The test set simulated again with PyTorch's scalar kernels and MKL's AVX2 FFT (a fresh cache):
    on a CPU whose default kernels are others (AVX-512, AVX2) some bits of ``noisy`` differ; the
    signature does not."""
    here = measurements(make_cfg("physics=noisy"))
    elsewhere = tmp_path / "data"
    elsewhere.mkdir()
    for images in data_dir.glob("*.pt"):  # the images as they are: only the measurements are simulated again
        shutil.copy(images, elsewhere)
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    overrides = [f"paths.data_dir={elsewhere}", "trainer.device=cpu", "debug=smoke", "physics=noisy"]
    proc = subprocess.run(
        [sys.executable, "-c", SIGN_ELSEWHERE, *overrides], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    there = json.loads(proc.stdout.strip().splitlines()[-1])
    assert same_values(here.test_signature, there["test_signature"])
