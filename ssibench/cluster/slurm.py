"""What a SLURM job of ``hydra/launcher=slurm`` asks for (conf/hydra/launcher/slurm.yaml)."""

from __future__ import annotations

import subprocess

from omegaconf import DictConfig, OmegaConf


def gpus_per_job(partition: str | None, *, _root_: DictConfig) -> int:
    """``${slurm_gpus:${hydra.launcher.partition}}``: the GPUs a job asks for, one when it trains on CUDA.

    ``trainer.device=cpu``: none. ``cuda``: one; ``cuda:<i>``: i + 1 (a job sees only its own GPUs,
    numbered from 0). ``auto`` (the default) is decided on the compute node, not on the machine that
    submits (a login node often has no GPU): it asks one when the partition's nodes have GPUs (``sinfo``)."""
    device = OmegaConf.to_container(_root_.trainer, resolve=False)["device"]  # unresolved: "auto" is not this machine's
    if device in ("auto", "${device:auto}"):
        return int(_partition_has_gpus(partition))
    device = str(_root_.trainer.device)
    if device == "cpu":
        return 0
    index = device.partition(":")[2]
    return int(index) + 1 if index else 1


def _partition_has_gpus(partition: str | None) -> bool:
    """Whether a node of ``partition`` (None: the default partition, marked ``*`` by sinfo) has a GPU."""
    try:
        listing = subprocess.run(
            ["sinfo", "--noheader", "--format=%P %G"], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise RuntimeError(
            f"cannot tell whether SLURM partition {partition or '(default)'} has GPUs (sinfo: {error}): "
            "set trainer.device=cpu or trainer.device=cuda"
        ) from None
    for line in listing.splitlines():
        name, _, gres = line.partition(" ")
        if name.rstrip("*") == partition or (partition is None and name.endswith("*")):
            # e.g. "gpu:a100:4(S:0-1),mps:100", or "(null)" without generic resources
            if any(resource.split(":")[0] == "gpu" for resource in gres.split(",")):
                return True
    return False
