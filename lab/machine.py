"""How much memory this machine has: the number the model table is read against."""

from __future__ import annotations

import os
import sys
from pathlib import Path

GIB = 1024**3


def total_ram_bytes() -> int | None:
    """Physical memory in bytes, or ``None`` when the platform will not say.

    Linux: ``MemTotal`` in ``/proc/meminfo``; macOS: ``sysctl -n hw.memsize``; elsewhere
    ``os.sysconf`` (pages x page size).
    """
    if sys.platform.startswith("linux"):
        found = _from_meminfo(Path("/proc/meminfo"))
        if found:
            return found
    if sys.platform == "darwin":
        found = _from_sysctl()
        if found:
            return found
    return _from_sysconf()


def total_ram_gib() -> float | None:
    found = total_ram_bytes()
    return found / GIB if found else None


def _from_meminfo(path: Path) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemTotal:"):
                value, unit = line.split()[1:3]
                return int(value) * 1024 if unit.lower() == "kb" else int(value)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _from_sysctl() -> int | None:
    import subprocess

    try:
        out = subprocess.run(
            ["sysctl", "-n", "hw.memsize"], capture_output=True, text=True, timeout=5, check=True
        )
        return int(out.stdout.strip())
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _from_sysconf() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
