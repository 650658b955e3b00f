"""Mixed precision and ``torch.compile`` of the networks: ``trainer.precision``, ``trainer.compile``.

Only the learned networks run in reduced precision: the denoiser inside the reconstructor (MoDL's
UNet) and a discriminator. Everything with physics in it (FFTs, coil maps, MoDL's data-consistency
solve) and every loss stays in fp32, whatever the device. deepinv 0.5's own
``Trainer(mixed_precision=...)`` instead autocasts the whole model and every loss, physics included
(its own warning: "not expected to work with models in complex dtypes"), and its AdversarialTrainer
never uses the grad scaler. From deepinv we keep the grad-scaler plumbing of ``Trainer.compute_loss``
(``self.scaler``: scale, unscale, skip non-finite steps, update).

As in deepinv, reduced precision applies to training only: evaluation and test run in fp32.
"""

from __future__ import annotations

import torch
from deepinv.models import Denoiser
from torch.amp import GradScaler

from ssibench.config_checks import InputError

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


class _Autocast:
    """Mixed into a network's class: in training mode its forward runs under autocast, and its
    output is returned in fp32 so that the physics and the losses after it stay in fp32."""

    def forward(self, *args, **kwargs):
        if not self.training:
            return super().forward(*args, **kwargs)
        with torch.autocast(self.autocast_device_type, dtype=self.autocast_dtype):
            return super().forward(*args, **kwargs).float()


def run_in_precision(module: torch.nn.Module, dtype: torch.dtype, device_type: str) -> None:
    """Make ``module`` train under autocast to ``dtype``, in place.

    Its class is swapped for a subclass rather than wrapped, so the parameter names (checkpoints)
    stay those of an fp32 run.
    """
    cls = type(module)
    module.__class__ = type(cls.__name__, (_Autocast, cls), {})
    module.autocast_device_type, module.autocast_dtype = device_type, dtype


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


class PrecisionMixin:
    """Trainer mixin: ``precision`` (fp32, bf16, fp16) and ``compile`` for the networks.

    :param str precision: the networks' training precision (see the module's docstring).
    :param bool compile: ``torch.compile`` the networks (in place, same parameter names).
    """

    def __init__(self, *args, precision: str = "fp32", compile: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision
        dtype = autocast_dtype(precision)
        denoisers = learned_networks(self.model)
        if (dtype or compile) and not denoisers:
            raise InputError(
                f"trainer.precision/compile act on the deepinv Denoiser inside the model, and "
                f"{type(self.model).__name__} has none: use trainer.precision=fp32 trainer.compile=false"
            )
        for net in denoisers + ([self.D] if getattr(self, "D", None) is not None else []):
            if dtype is not None:
                run_in_precision(net, dtype, self.device.type)
            if compile:
                net.compile()

    def setup_train(self, *args, **kwargs):
        super().setup_train(*args, **kwargs)
        # deepinv enables its scaler only with its own whole-model autocast.
        self.scaler = WatchedGradScaler(self.device.type, enabled=self.precision == "fp16")


class AdversarialPrecisionMixin(PrecisionMixin):
    """:class:`PrecisionMixin` for deepinv's AdversarialTrainer, with one grad scaler per network:
    deepinv 0.5's adversarial step never scales its losses, so fp16 gradients would underflow."""

    def setup_train(self, *args, **kwargs):
        super().setup_train(*args, **kwargs)
        self.scaler_D = WatchedGradScaler(self.device.type, enabled=self.scaler.is_enabled())

    def compute_loss(self, physics, x, y, train=True, epoch=None, step=True):
        if not (train and self.scaler.is_enabled()):
            return super().compute_loss(physics, x, y, train=train, epoch=epoch, step=step)
        # deepinv's adversarial step (generator, then the discriminator step_ratio_D times), scaled.
        logs = {}
        self.optimizer.G.zero_grad(set_to_none=True)
        x_net = self.model_inference(y=y, physics=physics)
        inputs = {"x": x, "x_net": x_net, "y": y, "y_hat": physics.A(x_net), "physics": physics}
        inputs |= {"model": self.model, "D": self.D, "epoch": epoch}
        loss_total = self._scaled_step(self.losses, 0, self.scaler, self.optimizer.G, inputs, logs, retain_graph=True)
        self.logs_total_loss_train.update(loss_total.item())
        logs["TotalLoss"] = self.logs_total_loss_train.avg
        for _ in range(self.step_ratio_D):
            self.optimizer.D.zero_grad(set_to_none=True)
            self._scaled_step(self.losses_d, len(self.losses), self.scaler_D, self.optimizer.D, inputs, logs)
        return loss_total, x_net, logs

    def _scaled_step(self, losses, first_meter, scaler, optimizer, inputs, logs, retain_graph=False):
        total = 0
        for k, term in enumerate(losses):
            value = term(**inputs).mean()
            total = total + value
            meter = self.logs_losses_train[first_meter + k]
            meter.update(value.item())
            logs[type(term).__name__] = meter.avg
        scaler.scale(total).backward(retain_graph=retain_graph)
        scaler.step(optimizer)
        scaler.update()
        return total
