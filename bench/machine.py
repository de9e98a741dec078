"""What the benchmarks print about the machine they ran on (shared by bench/*.py)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def file_system(folder: Path) -> str:
    """The type and device of the file system holding ``folder``, from /proc/mounts."""
    best = ("", "unknown file system")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, kind = line.split()[:3]
            if folder.resolve().is_relative_to(mount) and len(mount) >= len(best[0]):
                best = (mount, f"{kind} on {device}")
    except (OSError, ValueError):
        pass
    return best[1]
