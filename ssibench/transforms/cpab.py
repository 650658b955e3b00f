"""CPAB diffeomorphisms of images (the transforms of MO-EI), integrated for all points at once."""

from __future__ import annotations

import functools
import tempfile

import torch
import torch.nn.functional as F
from deepinv.transform import Transform
from libcpab.expm import expm
from libcpab.tesselation import Tesselation2D

# libcpab's solver steps (``Cpab.set_solver_params``' default, which deepinv never changes).
SOLVER_STEPS = 50


@functools.cache
def velocity_basis(n_tesselation: int, zero_boundary: bool, volume_preservation: bool) -> torch.Tensor:
    """libcpab's basis B (D × d, float32) of the continuous piecewise-affine velocity fields.

    Computed by libcpab's own tessellation code, so θ means the same field as in libcpab; once per
    process (it takes seconds) and never written where libcpab keeps its basis files.
    """
    with tempfile.TemporaryDirectory() as folder:  # libcpab pickles every basis it computes
        tessellation = Tesselation2D(
            [n_tesselation, n_tesselation], [0, 0], [1, 1], zero_boundary, volume_preservation, folder + "/", True
        )
    return torch.tensor(tessellation.B, dtype=torch.float32)  # as libcpab casts it


def cell_index(points: torch.Tensor, n: int) -> torch.Tensor:
    """Index (int64) of the triangle of libcpab's n × n tessellation of [0, 1]² holding each point of (2, M).

    Square (i, j) (i along the first coordinate) holds triangles 4(i + n j) + 0..3, split by its
    diagonals. The arithmetic is libcpab's (``findcellidx2D``), so a point on an edge lands in the
    same triangle; points outside the square go to the triangle facing them, as there. Branches are
    sums of 0/1 terms: ``torch.where`` costs as much as ~20 arithmetic ops on the CPU.
    """
    inc = 1.0 / n
    edge = n * inc
    clamped = points.clamp(0.0, edge - 1e-8)
    rest = torch.fmod(clamped, inc)
    # libcpab's round(), as (v + 0.5).long(): v >= 0 is an integer up to float error, and torch's rounding ops
    # open a parallel region at any size, each a scheduler time slice (~16 ms) on a CPU shared with other jobs.
    squares = ((clamped - rest) / inc + 0.5).long().clamp(max=n - 1)
    x, y = rest / inc  # the place in the square
    s0, s1 = points / inc
    left, top = points <= 0
    right, bottom = points >= edge
    # Triangle 0 rests on the square's edge y = 0, 1 on x = 1, 2 on y = 1, 3 on x = 0.
    diagonal, antidiagonal = (x < y).float(), (1 - x < y).float()
    inside = antidiagonal + diagonal * (3 - 2 * antidiagonal)
    # Beyond the domain's edge p0 = 0 (or 1): the face 3 (or 1), or in a corner 0 or 2 past the diagonal through
    # the domain's corner; beyond p1 = 1 only: 2; beyond p1 = 0 only: 0, as y is clamped to 0 there.
    left_side = 3 - 3 * (top & (s1 < s0)).float() - (bottom & (s1 - n > -s0)).float()
    right_side = 1 - (top & (-s1 > s0 - n)).float() + (bottom & (s1 - n > s0 - n)).float()
    left, right, bottom = left.float(), right.float(), bottom.float()
    elsewhere = (1 - left - right) * (bottom * 2 + (1 - bottom) * inside)
    return 4 * (squares[0] + n * squares[1]) + (left * left_side + right * right_side + elsewhere).long()


def integrate(points: torch.Tensor, theta: torch.Tensor, basis: torch.Tensor, n_tesselation: int) -> torch.Tensor:
    """φ_θ(p, 1) for every θ and every point: ``points`` (2, N), ``theta`` (R, d) → (R, 2, N).

    Each of ``SOLVER_STEPS`` steps moves every point by the exact flow exp(Δt Ã_c) of the affine
    field of the triangle c it is in, all R × N points at once.
    """
    n_cells = 4 * n_tesselation**2
    fields = (basis @ theta.t()).t().reshape(len(theta) * n_cells, 2, 3)  # the A_c (vec A = Bθ)
    homogeneous = torch.cat([fields, fields.new_zeros(len(fields), 1, 3)], dim=1)
    # libcpab's own Padé approximant: with it the points are libcpab's to the bit on the CPU (measured;
    # torch.linalg.matrix_exp differs in the last bits, which 50 steps grow to ~1e-5).
    steps = expm(homogeneous * (1.0 / SOLVER_STEPS))[:, :2, :].reshape(len(fields), 6).t().contiguous()
    first = torch.arange(len(theta), device=theta.device) * n_cells  # each θ's own cells
    first = first[:, None].expand(-1, points.shape[1]).reshape(-1)
    moved = points[:, None, :].expand(-1, len(theta), -1).reshape(2, -1)
    for _ in range(SOLVER_STEPS):
        step = steps.index_select(1, cell_index(moved, n_tesselation) + first).view(2, 3, -1)
        moved = step[:, 0] * moved[0] + step[:, 1] * moved[1] + step[:, 2]
    return moved.view(2, len(theta), -1).transpose(0, 1)


class CPABDiffeomorphism(Transform):
    r"""Random CPAB diffeomorphisms of images, integrated for all points and transforms at once.

    The drop-in for deepinv's :class:`deepinv.transform.CPABDiffeomorphism` (same parameters and
    defaults, same θ, same images up to float rounding), which calls libcpab: installed from PyPI,
    libcpab lacks its compiled kernels, and its PyTorch fallback takes 5-9× as long as this (docs/performance.rst,
    Performance). Here θ comes from ``self.rng``, so the run seeds and checkpoints it.

    **Velocity fields.** [0, 1]² is split into ``n_tesselation`` × ``n_tesselation`` squares, each
    into 4 triangles c by its diagonals. A CPA field is affine in each triangle,
    :math:`v_\theta(p) = A_c [p; 1]` with :math:`A_c \in \mathbb{R}^{2\times 3}`, and
    :math:`\mathrm{vec}(A_1,\dots,A_C) = B\theta`: B is an orthonormal basis (computed by libcpab)
    of the fields that are continuous across the triangles' edges, with zero normal velocity on the
    border of the square if ``zero_boundary``, and zero divergence (trace A_c = 0) if
    ``volume_perservation``. θ ~ N(0, I_d) (libcpab's ``sample_transformation``).

    **Diffeomorphism.** :math:`T_\theta(p) = \phi_\theta(p, 1)`, the solution at t = 1 of
    :math:`\partial_t \phi = v_\theta(\phi)`, :math:`\phi(p, 0) = p`. As libcpab (both its compiled
    and its PyTorch solver), in N = 50 steps of Δt = 1/N: each step finds the triangle c holding the
    point and applies the closed-form flow of c's affine field for Δt,
    :math:`[p; 1] \leftarrow \exp(\Delta t \tilde A_c)[p; 1]` with :math:`\tilde A_c = [A_c; 0\,0\,0]`,
    which is exact while the point stays in c; a step that crosses an edge keeps c's field to its
    end, an O(Δt²) error as v is continuous (solving for the time a point leaves its triangle would
    give the exact flow, which differs from libcpab's by up to ~1e-4 for θ ~ N(0, I), measured, so
    libcpab's steps are kept: the transforms are the original benchmark's). The exact flow has :math:`T_{-\theta} = T_\theta^{-1}`
    (the inverse transform negates θ). Every point of every transform moves at once; the loop is over
    the N steps only, and with ``constant_batch`` each θ is integrated once for the whole batch.

    **Images.** The output pixel (i, j) of an H × W image is the input sampled bilinearly at
    :math:`(H-1, W-1) \odot T_\theta(i/(H-1), j/(W-1))` (the first coordinate runs down the rows),
    clamped to the border, as libcpab resamples.

    References: O. Freifeld, S. Hauberg, K. Batmanghelich, J. W. Fisher III, "Transformations Based
    on Continuous Piecewise-Affine Velocity Fields", IEEE TPAMI 39(12), 2017; N. S. Detlefsen,
    O. Freifeld, S. Hauberg, "Deep Diffeomorphic Transformer Networks", CVPR 2018.

    :param int n_trans: transformed versions per image (deepinv's ``Transform``).
    :param bool constant_batch: one θ for every image of the batch (else one per image).
    :param int n_tesselation: squares per side of the tessellation.
    :param bool zero_boundary: zero velocity normal to the border of the image.
    :param bool volume_perservation: divergence-free (area-preserving) fields.
    :param bool override: accepted for deepinv's signature: libcpab's switch to recompute its
        cached basis file; the basis here is always computed and never cached on disk.
    :param str, torch.device device: where θ is drawn (``rng``'s device).
    :param torch.Generator rng: the generator of θ (default: a new one on ``device``).
    """

    def __init__(
        self,
        *args,
        constant_batch: bool = True,
        n_tesselation: int = 3,
        zero_boundary: bool = True,
        volume_perservation: bool = True,
        override: bool = True,
        device: str | torch.device = "cpu",
        rng: torch.Generator | None = None,
        **kwargs,
    ):
        device = torch.device(device)
        rng = torch.Generator(device=device) if rng is None else rng
        if rng.device.type != device.type or (device.index is not None and rng.device.index != device.index):
            raise ValueError(f"CPABDiffeomorphism: rng is on {rng.device} but device is {device}: give one on {device}")
        super().__init__(*args, rng=rng, **kwargs)
        self.constant_batch = constant_batch
        self.n_tesselation = n_tesselation
        basis = velocity_basis(n_tesselation, zero_boundary, volume_perservation)
        self.register_buffer("basis", basis.to(device, copy=True), persistent=False)

    def _get_params(self, x: torch.Tensor) -> dict:
        """θ ~ N(0, I_d): ``n_trans`` draws, times the batch size unless ``constant_batch``."""
        count = self.n_trans * (1 if self.constant_batch else len(x))
        return {"diffeo": torch.randn(count, self.basis.shape[1], generator=self.rng, device=self.rng.device)}

    def _transform(self, x: torch.Tensor, diffeo: torch.Tensor, **kwargs) -> torch.Tensor:
        """Transform the batch by each θ (``constant_batch``) or each image by its own θ, stacked as deepinv does."""
        theta = torch.as_tensor(diffeo).as_subclass(torch.Tensor).to(device=x.device, dtype=torch.float32)
        height, width = x.shape[-2:]
        rows = torch.linspace(0, 1, height, device=x.device)
        cols = torch.linspace(0, 1, width, device=x.device)
        points = torch.stack(torch.meshgrid(rows, cols, indexing="ij")).reshape(2, -1)
        moved = integrate(points, theta, self.basis.to(x.device), self.n_tesselation)
        # grid_sample's grid holds (column, row) in [-1, 1]; align_corners maps ±1 to the edge pixels.
        grid = (2 * moved.flip(1) - 1).transpose(1, 2).reshape(len(theta), height, width, 2).to(x.dtype)
        if self.constant_batch:
            grid = grid.repeat_interleave(len(x), dim=0)
        if len(grid) % len(x):
            raise ValueError(f"CPABDiffeomorphism: {len(theta)} θ for a batch of {len(x)}: give a multiple of it")
        images = x.repeat(len(grid) // len(x), 1, 1, 1)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)
