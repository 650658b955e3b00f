"""The offline default dataset: axial slices of the MNI152 T1 template shipped inside nilearn.

The template (MNI ICBM 152 non-linear symmetric 2009a, McConnell Brain Imaging Centre) is read from
the installed nilearn package, so no network is needed. Slices are stored exactly like deepinv's
fastMRI "simple" slices, an (N, H, W) tensor in a ``.pt`` file read back with
:class:`deepinv.datasets.SimpleFastMRISliceDataset`, so the rest of the pipeline cannot tell the two
datasets apart.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from deepinv.datasets import SimpleFastMRISliceDataset
from filelock import FileLock

from ssibench.atomic_files import atomic_path

log = logging.getLogger(__name__)  # the run's lines (ssibench.training.progress)

# Bump when the way slices are made changes, so stale files are never reused.
_FORMAT = 1


def build_mni152_slices(img_size: int, min_foreground: float) -> torch.Tensor:
    """Axial slices of the template, zero-padded to square, resized, each scaled to [0, 1].

    :param img_size: side of the square output slices.
    :param min_foreground: keep slices where at least this fraction of pixels is brain.
    :return: tensor of shape (N, img_size, img_size), slices in inferior-to-superior order.
    """
    from nilearn.datasets import load_mni152_template

    volume = torch.from_numpy(load_mni152_template(resolution=1).get_fdata()).float()
    slices = volume.permute(2, 1, 0).flip(1)  # (z, y, x), anterior at the top of each image
    foreground = (slices > 0).float().mean(dim=(1, 2))
    slices = slices[foreground >= min_foreground]

    h, w = slices.shape[1:]
    side = max(h, w)
    pad_h, pad_w = side - h, side - w
    slices = F.pad(slices, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    slices = F.interpolate(slices[:, None], size=(img_size, img_size), mode="area")[:, 0]
    # Normalised after resizing, so each slice spans exactly [0, 1] at the size it is used.
    slices = slices.clamp(min=0) / slices.amax(dim=(1, 2), keepdim=True)
    return slices.contiguous()


def mni152_slices(root: str | os.PathLike, img_size: int, min_foreground: float = 0.05):
    """The MNI152 slice dataset, built on first use under ``root`` (rebuilt if its parameters change,
    or if the file no longer matches the SHA-256 written beside it).

    :return: a :class:`deepinv.datasets.SimpleFastMRISliceDataset` of (2, H, W) images (real, imaginary=0).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"mni152_v{_FORMAT}_{img_size}px_fg{min_foreground:g}.pt"
    path = root / name
    checksum = path.with_name(path.name + ".sha256")
    with FileLock(str(path) + ".lock"):
        if not _intact(path, checksum):
            if path.exists():
                log.info(f"[ssibench] image cache {path} is damaged or has no checksum: rebuilding")
            slices = build_mni152_slices(img_size, min_foreground)
            with atomic_path(path) as tmp:
                torch.save(slices, tmp)
                digest = _sha256(tmp)
            with atomic_path(checksum) as tmp:  # last: a file without its checksum is rebuilt
                tmp.write_text(digest)
    return SimpleFastMRISliceDataset(root_dir=root, file_name=name)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _intact(path: Path, checksum: Path) -> bool:
    """The slices file is there and byte for byte what was written (a truncated copy, a full disk: not)."""
    return path.exists() and checksum.exists() and checksum.read_text().strip() == _sha256(path)
