"""What every benchmark's results file has: the machine line, and hand-written notes kept."""

import os
import platform
from pathlib import Path


def cpu_description(flags: set[str] = frozenset()) -> str:
    """The CPU's model name and core count, and which of `flags` (instruction sets a figure
    hangs on) it has."""
    info = {}
    cpuinfo = Path("/proc/cpuinfo")
    for line in (cpuinfo.read_text() if cpuinfo.exists() else "").splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())  # the first processor's
    text = f"{info.get('model name', platform.processor() or platform.machine())}, {os.cpu_count()} cores"
    if flags:
        text += ", " + (", ".join(sorted(set(info.get("flags", "").split()) & flags)) or "none of " + "/".join(sorted(flags)))
    return text


NOTES = "## Notes"


def results_write(path: Path, report: str) -> None:
    """Write a fresh report to `path`, keeping the "## Notes" section the file already has
    (hand-written: what the figures mean, how they were run, what was tried)."""
    notes = path.read_text().partition(NOTES)[2] if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report + (f"\n{NOTES}{notes}" if notes else ""))
