"""Every source of randomness of a run, registered in one place under a name.

Training draws random numbers from many places: the masks of fresh operators, the splits of the
splitting losses, the transforms of the equivariant losses, the noise of the noisy scenario, the
order of the training data, the discriminators' real samples, and the global generators of torch
(CPU and CUDA), numpy (deepinv permutes its data loaders with it) and Python. A run builds one
:class:`RandomStreams` while it assembles its parts; every component registers its generators
there, and seeding, saving (checkpoints) and restoring walk that one list, so a resumed run
continues every stream exactly where it stopped. ``tests/training/test_random_streams.py`` trains every loss
and fails if any ``torch.Generator`` in the process changed state without being registered.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Callable

import numpy as np
import torch


def stream_seed(seed: int, name: str) -> int:
    """The seed of stream ``name`` in a run of ``seed``: independent of the order streams register in."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{name}".encode()).digest()[:8], "little") >> 1


class RandomStreams:
    """Named ``torch.Generator`` s plus the process's global generators.

    :param int seed: the run's seed; :meth:`seed` derives each stream's seed from it and the name.
    """

    GLOBAL = ("torch", "cuda", "numpy", "python")

    def __init__(self, seed: int):
        self.run_seed = seed
        self._current: dict[str, Callable[[], torch.Generator]] = {}  # name -> the generator it is now
        self._fixed: dict[str, int] = {}  # name -> the seed its component fixed

    @property
    def generators(self) -> dict[str, torch.Generator]:
        """Each stream's generator as its owner holds it now."""
        return {name: current() for name, current in self._current.items()}

    def register(self, name: str, generator: torch.Generator) -> torch.Generator:
        """Add ``generator`` under ``name`` and seed it."""
        self._add(name, lambda: generator)
        return generator

    def register_attribute(self, name: str, owner, attribute: str, seed: int | None = None) -> None:
        """Add the generator ``owner.<attribute>`` under ``name`` and seed it (with ``seed`` when the
        component fixes it, else from the run's seed and the name). The stream follows the
        attribute, not the object: deepinv 0.5's noise models replace their ``rng`` with a copy at
        every draw (``NoiseModel.forward`` calls ``self.to(x.device)``, which makes a new generator)."""
        self._add(name, lambda: getattr(owner, attribute), seed)

    def _add(self, name: str, current: Callable[[], torch.Generator], seed: int | None = None) -> None:
        if name in self._current or name in self.GLOBAL:
            raise ValueError(f"random stream {name!r} is registered twice")
        if any(current() is known for known in self.generators.values()):
            return  # shared by several components: registered, and seeded, once, by the first name found
        self._current[name] = current
        if seed is not None:
            self._fixed[name] = seed
        self.seed([name])

    def register_module(self, prefix: str, module) -> None:
        """Register every generator held by ``module`` and its sub-modules (deepinv's losses,
        transforms, mask generators and noise models keep theirs as attributes, e.g. ``rng``).

        A component whose stream must start from a given seed whatever the run's (e.g. the original
        benchmark's 42 of the adversarial terms) says so in ``fixed_stream_seeds``: the generator's
        path below the component (``"physics_generator.rng"``) -> its seed."""
        parts = list(module.named_modules(prefix=prefix)) if isinstance(module, torch.nn.Module) else [(prefix, module)]
        fixed = {
            f"{path}.{relative}": seed
            for path, part in parts
            for relative, seed in getattr(part, "fixed_stream_seeds", {}).items()
        }
        for path, part in parts:
            for attribute, value in sorted(vars(part).items()):
                if isinstance(value, torch.Generator):
                    name = f"{path}.{attribute}"
                    self.register_attribute(name, part, attribute, fixed.get(name))

    def names(self) -> list[str]:
        return list(self._current)

    def seed(self, names: list[str] | None = None) -> None:
        """Seed the named streams (all when ``None``) again from the run's seed, as when they were
        registered; the global ones are seeded by :meth:`seed_globals`. Each generator keeps its device."""
        for name in self.names() if names is None else names:
            self._current[name]().manual_seed(self._fixed.get(name, stream_seed(self.run_seed, name)))

    def seed_globals(self) -> None:
        torch.manual_seed(self.run_seed)  # also seeds every CUDA device
        np.random.seed(self.run_seed)
        random.seed(self.run_seed)

    @contextlib.contextmanager
    def isolated(self):
        """Inside, every stream starts from its seed; after, every stream is as it was before. For a pass
        that must not change the run's course and must draw the same whenever it runs (validation)."""
        saved = self.state_dict()
        self.seed()
        self.seed_globals()
        try:
            yield
        finally:
            self.load_state_dict(saved)

    def state_dict(self) -> dict:
        """Every stream's state as tensors and plain data (checkpoints are loaded with ``weights_only``)."""
        kind, keys, *rest = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), *rest),
            "python": random.getstate(),
            "generators": {name: generator.get_state() for name, generator in self.generators.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; the streams must be those of the run that saved it."""
        saved = state["generators"]
        if set(saved) != set(self._current):
            missing, extra = sorted(set(self._current) - set(saved)), sorted(set(saved) - set(self._current))
            raise ValueError(
                f"the checkpoint's random streams differ from this run's (missing {missing}, unknown {extra}): "
                "it was made by another loss or scenario"
            )
        # States are CPU byte tensors, whatever device a checkpoint was mapped to.
        torch.set_rng_state(state["torch"].cpu())
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        kind, keys, *rest = state["numpy"]
        np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), *rest))
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        for name, generator in self.generators.items():
            generator.set_state(saved[name].cpu())
