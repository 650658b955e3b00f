"""The README's measured numbers are rewritten from one sweep, between their markers, and nowhere else."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import trainer_for  # noqa: F401  (conftest first: it registers the schemas)

from ssibench.results import schema as results_io
from ssibench.tools import readme_results


def _write(folder, loss, kind, physics, psnr, seed=0):
    psnr = np.full(6, psnr) + np.linspace(0, 0.5, 6)
    results = {
        "loss": loss, "label": loss.upper(), "kind": kind, "physics": physics, "dataset": "mni152", "seed": seed,
        "epochs": 20, "status": "ok", "reason": None,
        "metrics": {"PSNR": {"mean": float(psnr.mean()), "std": float(psnr.std())}, "SSIM": {"mean": 0.5, "std": 0.1}},
        "zero_filled": {"PSNR": {"mean": 19.0, "std": 1.0}, "SSIM": {"mean": 0.4, "std": 0.1}},
        "per_image": {"PSNR": psnr.tolist(), "SSIM": [0.5] * 6}, "n_test": 6, "train_seconds": 60.0,
        "eval_seconds": 1.0, "device": "cpu", "versions": {"ssibench": "0", "deepinv": "0", "torch": "0"},
        "cost": {"device": "CPU", "device_type": "cpu", "train_seconds": 60.0, "steps": 540 if kind != "no-learning" else 0,
                 "seconds_per_step": 0.11, "peak_memory_mb": 900.0},
        "test_set": f"{physics}-{seed}",
        "test_signature": {"y": {"shape": [6, 2, 8, 8], "norm": 1.0, "projections": [0.5] * 8}},
    }  # fmt: skip
    path = folder / f"{loss}_{physics}_seed{seed}"
    path.mkdir(parents=True)
    results_io.write(path / "results.json", results)


@pytest.fixture
def readme(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    for physics in ("mri", "noisy"):
        _write(sweep, "zero_filled", "no-learning", physics, 19.0)
        _write(sweep, "mc", "self-supervised", physics, 19.2)
        _write(sweep, "sup", "supervised", physics, 26.0)
    record = {"command": "python launch.py -m +sweep=leaderboard seed=0", "wall_seconds": 3600.0, "exit_code": 0,
              "machine": "a CPU", "python": "3.11", "torch": "2", "date": "2026-11-28"}  # fmt: skip
    (sweep / readme_results.SWEEP_RECORD).write_text(json.dumps(record))
    path = tmp_path / "README.md"
    sections = "".join(f"<!-- readme_results:{s} -->\nold {s}\n<!-- /readme_results:{s} -->\n" for s in readme_results.SECTIONS)
    path.write_text(f"# Title\n\nkept before\n\n{sections}\nkept after\n")
    monkeypatch.setattr(readme_results, "README", path)
    monkeypatch.setattr(readme_results, "FIGURES", tmp_path / "docs" / "embedded")
    monkeypatch.setattr(readme_results, "EMBEDDED", tmp_path / "shipped")  # never the package's own
    return path, sweep


def test_the_sections_are_rewritten_from_the_sweep_and_nothing_else(readme):
    path, sweep = readme
    assert readme_results.main(["--sweep", str(sweep)]) == 0
    text = path.read_text()
    assert text.startswith("# Title\n\nkept before\n") and text.rstrip().endswith("kept after")
    assert "old embedded-leaderboard" not in text and "old default-scale" not in text
    assert "### Scenario `mri`" in text and "### Scenario `noisy`" in text and "20 epochs, seed 0, 60 minutes wall time in all" in text
    assert "| `python launch.py loss=sup` | 26.25 ± 0.2 | 0.500 ± 0.10 | 20 epochs, 60 s, 540 steps |" in text
    assert "| `python launch.py loss=zero_filled` | 19.25 ± 0.2 | 0.500 ± 0.10 | none |" in text
    assert (path.parent / "docs" / "embedded" / "psnr_mri.png").is_file() and "docs/embedded/psnr_mri.png" in text


def test_a_readme_without_the_markers_is_left_alone(readme):
    path, sweep = readme
    path.write_text("# Title\n")
    with pytest.raises(SystemExit, match="needs one <!-- readme_results:embedded-leaderboard -->"):
        readme_results.main(["--sweep", str(sweep)])
    assert path.read_text() == "# Title\n"
    assert not (path.parent / "shipped").exists()  # nor the shipped runs
