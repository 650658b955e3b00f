"""What training costs: time, steps and peak memory, on a named device, over all of a run's sessions."""

from __future__ import annotations

import platform
import resource
import time
from pathlib import Path

import torch

from ssibench.results.record import Cost


def device_model(device: torch.device) -> str:
    """The device's model in words: the GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    return model or platform.processor() or "CPU"


class CostMeter:
    """Training seconds and steps of a run, carried over a resumption through its checkpoints, and
    the peak memory of this session (CUDA: the most allocated on the device; CPU: the process's
    maximum resident set, which also counts data and the Python process itself)."""

    def __init__(self, device: str | torch.device):
        self.device = torch.device(device)
        self.seconds, self.steps = 0.0, 0
        self._since: float | None = None

    def start(self) -> None:
        self._since = time.perf_counter()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def stop(self) -> None:
        self.seconds = self.total_seconds()
        self._since = None

    def step(self) -> None:
        self.steps += 1

    def total_seconds(self) -> float:
        return self.seconds + (time.perf_counter() - self._since if self._since is not None else 0.0)

    def state_dict(self) -> dict:
        return {"seconds": self.total_seconds(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.seconds, self.steps = float(state["seconds"]), int(state["steps"])
        if self._since is not None:  # restored while running: count from now on top of the saved time
            self._since = time.perf_counter()

    def peak_memory_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux

    def cost(self) -> Cost:
        return Cost(device_model(self.device), self.device.type, self.total_seconds(), self.steps, self.peak_memory_mb())
