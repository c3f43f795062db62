"""Which device a run trains on, and how many CPU threads it uses.

`auto` picks cuda, then mps, then cpu. Asking for a device this machine does not have is a
one-line `DeviceError`, never a torch traceback halfway through a bench.
"""

from __future__ import annotations

import torch

from digitduel.cores import usable_cores  # noqa: F401 - here too, beside set_threads
from digitduel.errors import DeviceError


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a settings device string (auto, cpu, cuda, cuda:N, mps) into a torch.device."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
            raise DeviceError(
                f"device {name!r} requested but CUDA is not available "
                f"(torch {torch.__version__}: {build}); use --device cpu or auto"
            )
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return torch.device("cuda", index)
    if name == "mps":
        if not _mps_available():
            raise DeviceError(
                "device 'mps' requested but Apple MPS is not available on this machine"
            )
        return torch.device("mps")
    raise DeviceError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)")


def available_devices() -> list[str]:
    """The device settings this machine can run: auto and cpu always, then cuda and each
    cuda:N, then mps (what a device picker offers; `resolve_device` accepts each)."""
    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        devices.append("mps")
    return devices


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def set_threads(n: int) -> int:
    """Set torch's intra-op threads deliberately (tiny models lose time to oversubscription)."""
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so wall-clock timings are honest on asynchronous devices."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device) -> str:
    """Human name of the device: the GPU's model, or the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return cpu_model()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"
