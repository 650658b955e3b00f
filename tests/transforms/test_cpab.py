"""ssibench's CPAB diffeomorphism against libcpab's (through deepinv): same θ, same points, same images."""

from __future__ import annotations

import math

import pytest
import torch
from deepinv.transform import CPABDiffeomorphism as LibcpabDiffeomorphism
from hydra.utils import instantiate

from ssibench.training.random_streams import RandomStreams
from ssibench.transforms.cpab import CPABDiffeomorphism, integrate

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]),
]
BOUNDARIES = [True, False]  # deepinv's default, and the fields that move the image's border too


@pytest.fixture(scope="module")
def libcpab_transforms():
    """deepinv's transforms (which call libcpab) per (zero_boundary, device), built once: each takes seconds."""
    built = {}

    def get(zero_boundary: bool, device: str, **kwargs) -> LibcpabDiffeomorphism:
        key = (zero_boundary, device, tuple(sorted(kwargs.items())))
        if key not in built:
            built[key] = LibcpabDiffeomorphism(zero_boundary=zero_boundary, device=device, **kwargs)
        return built[key]

    return get


def _smooth_image(batch: int, height: int, width: int, device: str) -> torch.Tensor:
    """Two channels of 0.5 (1 + sin(kπu) sin(lπv)) on [0, 1]²: an image whose gradient is bounded (≤ 2.2 per
    unit of the domain), so a difference δ in the points moves its values by at most ~2.2 δ."""
    u = torch.linspace(0, 1, height, device=device)[:, None]
    v = torch.linspace(0, 1, width, device=device)[None, :]
    channels = [0.5 * (1 + torch.sin(k * math.pi * u) * torch.sin(k * math.pi * v)) for k in (1, 0.5)]
    return torch.stack(channels).expand(batch, -1, -1, -1).contiguous()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("zero_boundary", BOUNDARIES)
def test_the_points_are_libcpab_s(zero_boundary, device, libcpab_transforms):
    """The integrated grid, for several θ at once, is libcpab's: on the CPU to the bit (the same Padé
    exponential and the same cell arithmetic, so a change of the solver, e.g. 25 steps instead of 50,
    shows); on CUDA, where float rounding may differ, within 1e-4."""
    cpab = libcpab_transforms(zero_boundary, device).cpab
    ours = CPABDiffeomorphism(zero_boundary=zero_boundary, device=device)
    assert torch.equal(ours.basis.cpu(), torch.tensor(cpab.params.basis, dtype=torch.float32))
    theta = torch.randn(6, cpab.get_theta_dim(), generator=torch.Generator().manual_seed(1)).to(device)
    grid = cpab.uniform_meshgrid([24, 40])
    expected = cpab.transform_grid(grid, theta)
    assert (expected - grid).abs().max() > 0.01  # the θ move the points
    got = integrate(grid, theta, ours.basis, 3)
    if device == "cpu":
        assert torch.equal(got, expected)
    else:
        assert (got - expected).abs().max() <= 1e-4


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("zero_boundary", BOUNDARIES)
@pytest.mark.parametrize("constant_batch, n_trans", [(True, 1), (True, 2), (False, 2)])
def test_the_images_are_deepinv_s(zero_boundary, constant_batch, n_trans, device, libcpab_transforms):
    """Transforming a batch with given θ gives deepinv's images, stacked the same way (n_trans copies
    of the batch, one θ per copy or per image)."""
    settings = {"constant_batch": constant_batch, "n_trans": n_trans}
    reference = libcpab_transforms(zero_boundary, device, **settings)
    ours = CPABDiffeomorphism(zero_boundary=zero_boundary, device=device, **settings)
    x = _smooth_image(3, 24, 40, device)
    theta = torch.randn(n_trans * (1 if constant_batch else 3), ours.basis.shape[1], device=device)
    expected = reference.transform(x, diffeo=theta)
    got = ours.transform(x, diffeo=theta)
    assert got.shape == expected.shape == (n_trans * 3, 2, 24, 40)
    assert (expected - x.repeat(n_trans, 1, 1, 1)).abs().max() > 0.01
    assert (got - expected).abs().max() <= 1e-4


@pytest.mark.parametrize("zero_boundary", BOUNDARIES)
def test_on_the_cpu_even_a_rough_image_is_deepinv_s(zero_boundary, libcpab_transforms):
    """With the points equal to the bit, only the bilinear sampling's rounding is left, whatever the image."""
    x = torch.rand(2, 2, 32, 32, generator=torch.Generator().manual_seed(3))
    theta = torch.randn(1, 8 if zero_boundary else 11, generator=torch.Generator().manual_seed(4))
    expected = libcpab_transforms(zero_boundary, "cpu").transform(x, diffeo=theta)
    assert (CPABDiffeomorphism(zero_boundary=zero_boundary).transform(x, diffeo=theta) - expected).abs().max() <= 1e-4


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("constant_batch", [True, False])
def test_theta_is_libcpab_s_draw_from_the_same_generator_state(constant_batch, device, libcpab_transforms):
    """libcpab draws θ ~ N(0, I_d) from the global generator (a MultivariateNormal with identity covariance,
    i.e. standard normal draws); ours draws the same numbers from its own generator in the same state,
    so the distribution is the same by construction, and so are the images of a random draw."""
    reference = libcpab_transforms(True, device, constant_batch=constant_batch, n_trans=2)
    ours = CPABDiffeomorphism(device=device, constant_batch=constant_batch, n_trans=2)
    x = _smooth_image(3, 16, 16, device)
    torch.manual_seed(11)  # seeds the CUDA generators too
    expected_theta = reference.get_params(x)["diffeo"]
    torch.manual_seed(11)
    expected = reference(x)
    ours.rng.manual_seed(11)
    theta = ours.get_params(x)["diffeo"]
    ours.rng.manual_seed(11)
    assert torch.equal(theta, expected_theta) and theta.shape == (2 * (1 if constant_batch else 3), 8)
    assert theta.device.type == device
    assert (ours(x) - expected).abs().max() <= 1e-4


def test_a_draw_is_determined_by_the_generator_state():
    transform = CPABDiffeomorphism(rng=torch.Generator().manual_seed(5))
    x = torch.rand(2, 2, 16, 16)
    state = transform.rng.get_state()
    first = transform(x)
    second = transform(x)
    transform.rng.set_state(state)
    assert torch.equal(transform(x), first) and not torch.equal(second, first)


def test_the_inverse_transform_undoes_it_up_to_the_solver():
    """T_{-θ} = T_θ⁻¹ for the exact flow; the 50-step solver and the border-clamped sampling leave an error."""
    transform = CPABDiffeomorphism(rng=torch.Generator().manual_seed(6))
    x = _smooth_image(2, 32, 32, "cpu")
    params = transform.get_params(x)
    moved = transform.transform(x, **params)
    assert (moved - x).abs().max() > 0.02
    assert (transform.inverse(moved, **params) - x).abs().max() < 0.01


@pytest.mark.parametrize("loss", ["mo_ei", "robust_mo_ei"])
def test_the_mo_ei_losses_use_it_with_a_generator_the_run_registers(loss, make_cfg):
    cfg = make_cfg(f"loss={loss}", "physics=noisy", "trainer.device=cpu")
    equivariance = instantiate(cfg.loss.losses[1])
    assert isinstance(equivariance.T, CPABDiffeomorphism)
    assert equivariance.T.rng.device.type == "cpu"
    streams = RandomStreams(seed=3)
    streams.register_module("loss.1", equivariance)
    assert streams.generators["loss.1.T.rng"] is equivariance.T.rng
    seeded = equivariance.T.get_params(torch.zeros(1, 2, 8, 8))["diffeo"]
    streams.seed()
    assert torch.equal(equivariance.T.get_params(torch.zeros(1, 2, 8, 8))["diffeo"], seeded)


def test_bad_input_says_what_to_do():
    with pytest.raises(ValueError, match="rng is on cpu but device is cuda: give one on cuda"):
        CPABDiffeomorphism(device="cuda", rng=torch.Generator())
    transform = CPABDiffeomorphism(constant_batch=False)
    with pytest.raises(ValueError, match="3 θ for a batch of 2: give a multiple of it"):
        transform.transform(torch.rand(2, 2, 8, 8), diffeo=torch.zeros(3, 8))
