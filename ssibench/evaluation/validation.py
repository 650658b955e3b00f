"""Scoring a model on the validation set while it trains: the held-out k-space criterion (no ground
truth) and the metrics against the validation ground truth (the oracle).

The validation measurements are training measurements held out before training
(``split.val_fraction``, :mod:`ssibench.data.splits`). After each evaluated epoch the trainer scores
them here; :mod:`ssibench.evaluation.selection` turns the scores into the checkpoint each rule chooses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from deepinv.physics.generator import GaussianSplittingMaskGenerator

from ssibench.training.random_streams import stream_seed

KSPACE = "val/kspace"  # the column (metrics.csv, W&B) of the held-out k-space criterion


@dataclass
class HeldOutKspace:
    r"""A fixed split of each validation measurement's measured k-space into an input part and a held-out part.

    For a validation measurement :math:`y = M F x + \epsilon` with measured locations :math:`M`, the
    split :math:`M = M_{\text{in}} + M_{\text{out}}` is drawn once per image from the run's seed (the
    same for every method and every epoch). The model sees only the input part, and the criterion is
    the normalised error of its reconstruction, measured again, on the held-out part:

    .. math::

        \mathcal{C}(f_\theta) = \frac{\| M_{\text{out}} (A f_\theta(M_{\text{in}} y, A_{\text{in}}) - y) \|_2^2}
        {\| M_{\text{out}} y \|_2^2},

    averaged over the validation images; lower is better. It needs no ground truth, so it serves
    measured data as well as simulated data, and it is one criterion for every method, never a
    method's own training loss. Holding out measured k-space locations to decide when to stop follows
    SSDU (Yaman et al., "Self-supervised learning of physics-guided reconstruction neural networks
    without fully sampled reference data", MRM 2020) and the self-validation set of ZS-SSL (Yaman et
    al., "Zero-shot self-supervised learning for MRI reconstruction", ICLR 2022).

    The held-out locations are drawn as SSDU draws its loss set: deepinv's
    :class:`~deepinv.physics.generator.GaussianSplittingMaskGenerator` (a Gaussian density over
    k-space, the central block always in the input part).

    :param seed: the run's seed.
    :param held_out: the fraction of each image's measured locations held out (ZS-SSL holds out 20%).
    """

    seed: int
    held_out: float = 0.2
    _splits: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, init=False, repr=False)

    def split(self, index: int, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The input and held-out parts, each ``(1, H, W)``, of validation image ``index`` whose
        measured locations are ``mask`` (``(C, H, W)``; the same in every channel)."""
        if index not in self._splits:
            measured = (mask[:1] != 0).to(torch.float32).cpu()
            rng = torch.Generator().manual_seed(stream_seed(self.seed, f"validation/kspace/{index}"))
            splitter = GaussianSplittingMaskGenerator(tuple(measured.shape), split_ratio=1 - self.held_out, rng=rng)
            kept = splitter.step(batch_size=None, input_mask=measured)["mask"]
            self._splits[index] = (kept.to(mask.device), (measured - kept).to(mask.device))
        return self._splits[index]


def _on(mask: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``mask`` ``(B, 1, H, W)`` shaped to multiply ``y`` (``(B, 2, H, W)``, or ``(B, 2, coils, H, W)``)."""
    return mask.reshape(mask.shape[0], 1, *([1] * (y.dim() - 4)), *mask.shape[-2:])


@dataclass
class Validation:
    """The validation set of a run and how it is scored after each evaluated epoch.

    :param batches: the validation items ``(x, y, params)`` in order (a DataLoader or resident batches).
    :param kspace: the held-out k-space split.
    :param ground_truth: whether the items hold ground truth (else only the k-space criterion).
    :param metric_names: the names of the trainer's metrics, in order (``val/<name>`` columns).
    """

    batches: object
    kspace: HeldOutKspace
    ground_truth: bool
    metric_names: list[str]

    def __len__(self) -> int:
        return len(self.batches.dataset)

    def score(self, trainer) -> dict[str, float]:
        """``val/kspace`` and, with ground truth, ``val/<metric>`` of every metric: means over the images.

        The model runs in eval mode through the trainer's own inference (a method that averages
        several passes at test time does so here too). The operator's mask is set back after each
        batch: a scenario with one fixed mask trains on with it.
        """
        sums: dict[str, float] = {}
        first = 0
        for batch in self.batches:
            x, y, physics = trainer.get_samples_offline([iter([batch])], 0)
            full = physics.mask.clone()
            measured = full.expand(y.shape[0], *full.shape[1:]) if full.shape[0] == 1 else full
            parts = [self.kspace.split(first + b, measured[b]) for b in range(y.shape[0])]
            kept, held = (torch.stack(p) for p in zip(*parts))
            try:
                values = {KSPACE: self._kspace_error(trainer, y, physics, full, kept, held)}
                if self.ground_truth:
                    x_net = trainer.model_inference(y=y, physics=physics, x=x, train=False)
                    for name, metric in zip(self.metric_names, trainer.metrics):
                        values[f"val/{name}"] = metric(x_net=x_net, x=x, y=y, physics=physics, model=trainer.model)
            finally:
                physics.update(mask=full)
            for column, per_image in values.items():
                sums[column] = sums.get(column, 0.0) + float(per_image.detach().double().sum())
            first += y.shape[0]
        return {column: total / first for column, total in sums.items()}

    @staticmethod
    def _kspace_error(trainer, y, physics, full, kept, held) -> torch.Tensor:
        """The criterion per image of the batch."""
        physics.update(mask=kept)  # a subset of the measured locations
        x_in = trainer.model_inference(y=y * _on(kept, y), physics=physics, train=False)
        physics.update(mask=full)
        with torch.no_grad():
            residual = _on(held, y) * (physics.A(x_in) - y)
            reference = _on(held, y) * y
        dims = tuple(range(1, y.dim()))
        return residual.pow(2).sum(dims) / reference.pow(2).sum(dims)
