"""Which test set a run was scored on: its bits (:func:`fingerprint`), and its values up to rounding
(:func:`signature`).

The same simulation gives the same bytes on one machine, but not on every CPU: MKL's FFT and
PyTorch's random-number kernels round differently on AVX-512, AVX2 or scalar paths, and the last bits
of the measurements follow. The fingerprint tells runs of one machine apart exactly; the signature
says that two test sets hold the same images, masks and measurements up to that rounding, so runs
simulated on different CPUs are still compared (:func:`same_values`).

The signature of each tensor of the items (``x``, ``y``, each physics parameter such as
``params.mask``), over all test items in order, is its shape, its float64 norm and its
projections onto fixed ±1 vectors, divided by the norm. A different image, mask line or noise draw
moves a projection by about its share of the norm; the kernels' rounding by about 1e-7 of it (measured
with MKL's AVX2 and AVX-512 FFT, PyTorch's scalar and vectorised random numbers).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch

PROJECTIONS = 8  # one ±1 vector per bit of the low byte of each element's 64 random bits
TOLERANCE = 1e-4  # of the norm: 1000x the kernels' rounding, below a 0.1% change of sigma (2e-4), far below a mask line
_SEED = 20261202  # the ±1 vectors are PCG64's raw stream from this seed, a fixed algorithm in every numpy
_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(np.float64)


def fingerprint(dataset) -> str:
    """SHA-256 of every item's ground truth, measurements and physics parameters (their dtypes,
    shapes and bytes): two runs with the same fingerprint were scored on the same test set, bit for bit.
    Its byte stream is the one results recorded before signatures existed (so not :func:`_leaves`)."""
    digest = hashlib.sha256()

    def add(value) -> None:
        if isinstance(value, dict):
            for name in sorted(value):
                digest.update(name.encode())
                add(value[name])
        elif isinstance(value, (tuple, list)):
            for part in value:
                add(part)
        else:
            tensor = torch.as_tensor(value).detach().cpu().contiguous()
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.numpy().tobytes())

    for index in range(len(dataset)):
        add(dataset[index])
    return digest.hexdigest()


def signature(dataset) -> dict[str, dict]:
    """``{"x": {"shape": [n, 2, 64, 64], "norm": ‖x‖, "projections": [⟨r_k, x⟩ / ‖x‖ ...]}, "y": ...}``
    over the ``n`` items of ``dataset`` (a JSON-ready dict)."""
    sums: dict[str, dict] = {}
    for index in range(len(dataset)):
        for name, tensor in _leaves(dataset[index]):
            values = _as_float64(tensor)
            leaf = sums.setdefault(
                name, {"shape": list(tensor.shape), "n": 0, "squares": 0.0, "dots": np.zeros(PROJECTIONS),
                       "bits": np.random.PCG64(_SEED)},
            )  # fmt: skip
            if list(tensor.shape) != leaf["shape"]:
                raise ValueError(f"test item {index}: {name} has shape {list(tensor.shape)}, item 0 {leaf['shape']}")
            leaf["n"] += 1
            leaf["squares"] += float(values @ values)
            low_byte = leaf["bits"].random_raw(values.size).astype(np.uint8)  # its lowest 8 bits
            per_byte = np.bincount(low_byte, weights=values, minlength=256)  # Σ v over the elements of each byte
            leaf["dots"] += 2 * (per_byte @ _BYTE_BITS) - per_byte.sum()  # ⟨±1, v⟩ = 2 Σ_{bit k is 1} v − Σ v
    out = {}
    for name, leaf in sums.items():
        norm = math.sqrt(leaf["squares"])
        out[name] = {
            "shape": [leaf["n"], *leaf["shape"]],
            "norm": norm,
            "projections": [dot / norm if norm else 0.0 for dot in leaf["dots"]],
        }
    return out


def same_values(a: dict, b: dict) -> bool:
    """Whether two :func:`signature` s are of the same test set up to rounding: the same tensors and
    shapes, norms and projections within :data:`TOLERANCE` of the norm."""
    if set(a) != set(b):
        return False
    for name, left in a.items():
        right = b[name]
        if left["shape"] != right["shape"] or len(left["projections"]) != len(right["projections"]):
            return False
        scale = max(left["norm"], right["norm"])
        if abs(left["norm"] - right["norm"]) > TOLERANCE * scale:
            return False
        if any(abs(p - q) > TOLERANCE for p, q in zip(left["projections"], right["projections"])):
            return False
    return True


def _leaves(item, name: str = "") -> list[tuple[str, torch.Tensor]]:
    """The tensors of an item ``(x, y, params)`` named ``x``, ``y``, ``params.mask``..., on the CPU."""
    if isinstance(item, dict):
        return [leaf for key in sorted(item) for leaf in _leaves(item[key], f"{name}.{key}" if name else str(key))]
    if isinstance(item, (tuple, list)):
        names = ("x", "y", "params") if not name and len(item) == 3 else [f"{name}[{i}]" for i in range(len(item))]
        return [leaf for part, part_name in zip(item, names) for leaf in _leaves(part, part_name)]
    return [(name, torch.as_tensor(item).detach().cpu().contiguous())]


def _as_float64(tensor: torch.Tensor) -> np.ndarray:
    if tensor.is_complex():
        tensor = torch.view_as_real(tensor)
    return tensor.to(torch.float64).reshape(-1).numpy()
