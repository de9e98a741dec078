"""What the benchmarks print besides their measurements (shared by bench/*.py): durations and
ratios, Markdown tables, and the machine they ran on."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path


def ms(value: float) -> str:
    """Milliseconds, three digits or so: ``0.63 µs``, ``633 µs``, ``6.29 ms``, ``12.3 ms``."""
    if value < 0.01:
        return f"{value * 1000:,.2f} µs"
    if value < 1:
        return f"{value * 1000:,.0f} µs"
    return f"{value:,.2f} ms" if value < 10 else f"{value:,.1f} ms"


def times(value: float) -> str:
    """A ratio: ``5.32x``, or ``1/2,044`` when it is far below one."""
    if value < 0.1:
        return f"1/{1 / value:,.0f}" if value else "0"
    return f"{value:,.2f}x" if value < 100 else f"{value:,.0f}x"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    return "\n".join(lines + [f"| {' | '.join(row)} |" for row in rows])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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


def machine(folder: Path) -> str:
    """``Machine: CPU, nproc N, Python V, OS, files in FOLDER on FS``: a benchmark's machine line
    goes on from there."""
    return (
        f"Machine: {cpu_model()}, nproc {usable_cores()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, temporary folder on {file_system(folder)}"
    )
