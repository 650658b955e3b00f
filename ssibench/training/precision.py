"""Mixed precision and ``torch.compile`` of the networks: ``trainer.precision``, ``trainer.compile``.

Only the learned networks run in reduced precision: the denoiser inside the reconstructor (MoDL's
UNet) and a discriminator. Everything with physics in it (FFTs, coil maps, MoDL's data-consistency
solve) and every loss stays in fp32, whatever the device. deepinv 0.5's own
``Trainer(mixed_precision=...)`` instead autocasts the whole model and every loss, physics included
(its own warning: "not expected to work with models in complex dtypes"), and its AdversarialTrainer
never uses the grad scaler (:mod:`ssibench.training.trainer` scales both steps).

As in deepinv, reduced precision applies to training only: evaluation and test run in fp32.
"""

from __future__ import annotations

import torch
from deepinv.models import Denoiser
from torch.amp import GradScaler

from ssibench.errors import InputError

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a ``trainer.precision`` choice (None: fp32)."""
    if precision not in PRECISIONS:
        raise InputError(f"trainer.precision={precision} is not one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def learned_networks(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The outermost deepinv Denoisers inside ``module`` (MoDL's UNet): the parts without physics."""
    if isinstance(module, Denoiser):
        return [module]
    return [net for child in module.children() for net in learned_networks(child)]


class TrainingAutocast:
    """Runs a network under autocast in training mode and returns its output in fp32, so that the
    physics and the losses after it stay in fp32.

    Installed as the network's forward pre- and post-hooks: the module itself (its class, its
    parameter names, hence its checkpoints) is the same as in an fp32 run.
    """

    def __init__(self, dtype: torch.dtype, device_type: str):
        self.dtype, self.device_type = dtype, device_type
        self._open: list[torch.autocast | None] = []  # one per forward call in progress

    def attach(self, net: torch.nn.Module) -> None:
        net.register_forward_pre_hook(self._enter)
        net.register_forward_hook(self._exit, always_call=True)  # also when the forward raises

    def _enter(self, net, args) -> None:
        context = torch.autocast(self.device_type, dtype=self.dtype) if net.training else None
        if context is not None:
            context.__enter__()
        self._open.append(context)

    def _exit(self, net, args, output):
        context = self._open.pop()
        if context is None:
            return None  # output unchanged
        context.__exit__(None, None, None)
        return output.float() if isinstance(output, torch.Tensor) else output


def prepare_networks(networks: list[torch.nn.Module], precision: str, compile: bool, device_type: str) -> None:
    """Make ``networks`` (from :func:`learned_networks`, and a discriminator) train in ``precision``
    and compile them with ``torch.compile`` when asked, in place (same parameter names)."""
    dtype = autocast_dtype(precision)
    if (dtype or compile) and not networks:
        raise InputError(
            "trainer.precision/compile act on the deepinv Denoiser inside the model, and this model has "
            "none: use trainer.precision=fp32 trainer.compile=false"
        )
    for net in networks:
        if dtype is not None:
            TrainingAutocast(dtype, device_type).attach(net)
        if compile:
            net.compile()


class WatchedGradScaler(GradScaler):
    """A grad scaler that stops the run rather than silently skipping every step.

    A step whose gradients are not finite is skipped and the scale halved; when ``max_skipped``
    steps in a row are skipped (scale divided by 2**max_skipped), the network overflows fp16
    whatever the scale, and training stops with the reason.
    """

    def __init__(self, device: str, enabled: bool, max_skipped: int = 20):
        super().__init__(device, enabled=enabled)
        self.max_skipped = max_skipped
        self.skipped_in_a_row = 0

    def update(self, new_scale=None):
        if not self.is_enabled():
            return
        before = self.get_scale()
        super().update(new_scale)
        self.skipped_in_a_row = self.skipped_in_a_row + 1 if self.get_scale() < before else 0
        if self.skipped_in_a_row >= self.max_skipped:
            raise FloatingPointError(
                f"fp16: {self.skipped_in_a_row} optimizer steps in a row skipped for non-finite gradients "
                f"(grad scale now {self.get_scale():.3g}); train with trainer.precision=bf16 or fp32"
            )
