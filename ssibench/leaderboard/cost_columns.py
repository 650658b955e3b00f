"""What each method costs to train, from the ``cost`` block its runs record in results.json.

    "cost": {"device": "NVIDIA H200", "device_type": "cuda", "train_seconds": 412.0, "steps": 540,
             "seconds_per_step": 0.71, "peak_memory_mb": 5321.0}

Per method and device: the mean training time per run in device-hours, the mean seconds per
training step, and the highest peak memory of its runs. Hours on different devices are never
averaged together: a table gets one group of cost columns per device its runs used, and a method
run on two devices has numbers in both groups. Runs made before results recorded their cost have
no ``cost`` block; they are left out of the cost columns (a cell says ``(k of n runs)`` when it
covers fewer runs than the method has), and a method without any shows ``—``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

MISSING = "—"  # a cell without a number
STATS = ("hours", "seconds_per_step", "peak_memory_mb")


@dataclass(frozen=True, order=True)
class Device:
    """Where runs trained; ordered GPUs first, then by name."""

    not_gpu: bool
    name: str
    type: str

    @classmethod
    def of(cls, device_type: str, name: str) -> Device:
        return cls(device_type != "cuda", name, device_type)

    @property
    def hours_unit(self) -> str:
        return {"cuda": "GPU-h", "cpu": "CPU-h"}.get(self.type, f"{self.type}-h")


@dataclass(frozen=True)
class DeviceCost:
    """One method's runs on one device."""

    runs: int
    hours: float  # mean training time per run
    seconds_per_step: float | None  # mean over the runs that report it
    peak_memory_mb: float | None  # the highest of the runs' peaks


def run_cost(results: dict) -> tuple[Device, dict] | None:
    """The device and cost block of one run, or None for a run that recorded none."""
    cost = results.get("cost")
    if not isinstance(cost, dict) or not isinstance(cost.get("train_seconds"), (int, float)):
        return None
    device = Device.of(str(cost.get("device_type") or "unknown"), str(cost.get("device") or "unknown device"))
    return device, cost


def method_cost(runs: list[dict]) -> dict[Device, DeviceCost]:
    """The cost of one method's runs (its seeds), per device."""
    by_device: dict[Device, list[dict]] = defaultdict(list)
    for results in runs:
        found = run_cost(results)
        if found is not None:
            by_device[found[0]].append(found[1])
    costs = {}
    for device, blocks in by_device.items():
        per_step = [b["seconds_per_step"] for b in blocks if isinstance(b.get("seconds_per_step"), (int, float))]
        peaks = [b["peak_memory_mb"] for b in blocks if isinstance(b.get("peak_memory_mb"), (int, float))]
        costs[device] = DeviceCost(
            runs=len(blocks),
            hours=float(np.mean([b["train_seconds"] for b in blocks])) / 3600,
            seconds_per_step=float(np.mean(per_step)) if per_step else None,
            peak_memory_mb=float(max(peaks)) if peaks else None,
        )
    return costs


@dataclass(frozen=True)
class CostColumn:
    """One cost column of a table: a statistic (one of :data:`STATS`) on one device."""

    device: Device
    stat: str

    def header(self, name_device: bool) -> str:
        """The column's title; the hours column always names its device, the others when asked
        (a table whose runs used several devices)."""
        if self.stat == "hours":
            return f"{self.device.hours_unit} ({self.device.name})"
        title = {"seconds_per_step": "s/step", "peak_memory_mb": "peak MB"}[self.stat]
        return f"{title} ({self.device.name})" if name_device else title

    def value(self, costs: dict[Device, DeviceCost]) -> float | None:
        cost = costs.get(self.device)
        return None if cost is None else getattr(cost, self.stat)

    def text(self, costs: dict[Device, DeviceCost], n_runs: int) -> str:
        """The cell as read: the number, and how many of the method's runs it covers when not all."""
        value = self.value(costs)
        if value is None:
            return MISSING
        number = f"{value:.0f}" if self.stat == "peak_memory_mb" else _significant(value)
        runs = costs[self.device].runs
        return number if runs == n_runs else f"{number} ({runs} of {n_runs} runs)"


def cost_columns(devices: list[Device]) -> list[CostColumn]:
    return [CostColumn(device, stat) for device in sorted(devices) for stat in STATS]


def _significant(value: float) -> str:
    """Three significant digits without an exponent for the sizes met here (0.000123 .. 12345)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


FOOTNOTE = (
    "Cost: mean training time per run in device-hours, mean seconds per training step, and the highest peak memory "
    "(MB) of the method's runs, as each run recorded them; one group of columns per device, never averaged across "
    f"devices; {MISSING}: no run of the method recorded it."
)
