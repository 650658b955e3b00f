"""`ssibench prepare fastmri`: tiny volumes in fastMRI's HDF5 layout, end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from conftest import CONF, ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

from ssibench.data.prepare_fastmri import default_output, main

SIZE = 24  # image side; the saved slices are zero-padded to 320×320 like deepinv does for smaller images
PADDED = 320


def write_volume(path, n_slices: int, coils: int | None, seed: int) -> np.ndarray:
    """A fastMRI training volume: k-space with readout oversampling (2×), its fully-sampled magnitude
    image (multicoil: `reconstruction_rss`, single-coil: `reconstruction_esc`), the ISMRMRD header.

    :return: the magnitude images, (n_slices, SIZE, SIZE).
    """
    rng = np.random.default_rng(seed)
    shape = (n_slices,) + ((coils,) if coils else ()) + (2 * SIZE, SIZE)
    kspace = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    images = np.abs(images[..., SIZE // 2 : SIZE // 2 + SIZE, :])
    magnitude = np.sqrt((images**2).sum(axis=1)) if coils else images
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("reconstruction_rss" if coils else "reconstruction_esc", data=magnitude.astype(np.float32))
        f.create_dataset("ismrmrd_header", data=np.bytes_(b"<?xml version='1.0'?><ismrmrdHeader/>"))
        f.attrs.update(acquisition="AXT2" if coils else "CORPD_FBK", max=float(magnitude.max()), patient_id=f"p{seed}")
    return magnitude


def write_volumes(folder, coils: int | None = 4) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_volume(folder / f"file_{k}.h5", n, coils, seed=k) for k, n in enumerate((3, 4, 5))]


def _prepare(*args: str, cwd, data_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "SSIBENCH_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "ssibench", "prepare", "fastmri", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def _dataset_cfg(choice: str, data_dir):
    """The dataset config launch.py would get, with the data dir from SSIBENCH_DATA_DIR."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("config", overrides=[f"dataset={choice}"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.mark.parametrize("anatomy,coils", [("brain", 4), ("knee", None)], ids=["brain-multicoil", "knee-singlecoil"])
def test_prepared_file_is_what_the_dataset_config_reads(anatomy, coils, tmp_path, monkeypatch):
    volumes = write_volumes(tmp_path / "raw", coils)
    data_dir = tmp_path / "data"
    args = ["--anatomy", anatomy] if anatomy == "knee" else []
    proc = _prepare(str(tmp_path / "raw"), *args, cwd=ROOT, data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hint = "python launch.py experiment=ssibench" + (" dataset=fastmri_knee" if anatomy == "knee" else "")
    assert proc.stdout.strip().splitlines()[-1].endswith(hint)

    monkeypatch.setenv("SSIBENCH_DATA_DIR", str(data_dir))
    slices = instantiate(_dataset_cfg(f"fastmri_{anatomy}", data_dir).dataset)
    GlobalHydra.instance().clear()
    assert len(slices) == len(volumes)
    lo = (PADDED - SIZE) // 2
    for image, volume in zip(slices, volumes):
        assert image.shape == (2, PADDED, PADDED) and torch.all(image[1] == 0)
        middle = torch.from_numpy(volume[len(volume) // 2])
        expected = (middle - middle.min()) / (middle.max() - middle.min())  # scaled to [0, 1]
        assert torch.allclose(image[0, lo : lo + SIZE, lo : lo + SIZE], expected, atol=1e-6)
        assert image[0].abs().sum() == pytest.approx(expected.sum().item(), rel=1e-5)  # zero padding around


@pytest.mark.parametrize("anatomy", ["brain", "knee"])
def test_default_output_is_where_the_dataset_config_looks(anatomy, tmp_path, monkeypatch):
    monkeypatch.setenv("SSIBENCH_DATA_DIR", str(tmp_path))
    cfg = _dataset_cfg(f"fastmri_{anatomy}", tmp_path)
    GlobalHydra.instance().clear()
    assert default_output(anatomy) == tmp_path / cfg.dataset.file_name
    monkeypatch.delenv("SSIBENCH_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert default_output(anatomy).resolve() == tmp_path / "data" / cfg.dataset.file_name


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_a_folder_without_fastmri_volumes_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out.pt"
    assert "no fastMRI .h5 files in" in _refused(["fastmri", str(tmp_path / "empty"), "--out", str(out)], capsys)
    assert "is not a folder" in _refused(["fastmri", str(tmp_path / "missing"), "--out", str(out)], capsys)
    with h5py.File(tmp_path / "empty" / "other.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((2, 4, 4)))
    (tmp_path / "empty" / "truncated.h5").write_bytes(b"\x89HDF")
    line = _refused(["fastmri", str(tmp_path / "empty"), "--out", str(out)], capsys)
    assert "2 of the 2 .h5 files" in line and "other.h5" in line
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_an_existing_output_is_kept_unless_overwrite(tmp_path, capsys):
    write_volumes(tmp_path / "raw")
    out = tmp_path / "data" / "slices.pt"
    out.parent.mkdir()
    out.write_bytes(b"an earlier dataset")
    line = _refused(["fastmri", str(tmp_path / "raw"), "--out", str(out)], capsys)
    assert "exists: pass --overwrite" in line
    assert out.read_bytes() == b"an earlier dataset" and os.listdir(out.parent) == ["slices.pt"]

    assert main(["fastmri", str(tmp_path / "raw"), "--out", str(out), "--overwrite"]) == 0
    assert torch.load(out, weights_only=True).shape == (3, PADDED, PADDED)
    assert os.listdir(out.parent) == ["slices.pt"]  # no temporary file left behind
    assert f"paths.data_dir={out.parent} dataset.file_name=slices.pt" in capsys.readouterr().out
