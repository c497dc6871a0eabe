"""What the benchmarks share: the machine line, hand-written notes kept, and labelers timed side
by side."""

import os
import platform
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def cpu_description(flags: frozenset[str] | set[str] = frozenset()) -> str:
    """The CPU's model name and core count, and which of `flags` (instruction sets a figure
    hangs on) it has."""
    info: dict[str, str] = {}
    cpuinfo = Path("/proc/cpuinfo")
    for line in (cpuinfo.read_text() if cpuinfo.exists() else "").splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())  # the first processor's
    text = f"{info.get('model name', platform.processor() or platform.machine())}, {os.cpu_count()} cores"
    if flags:
        present = sorted(set(info.get("flags", "").split()) & flags)
        text += ", " + (", ".join(present) or "none of " + "/".join(sorted(flags)))
    return text


def rss_mib() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssPeak:
    """`with RssPeak() as rss:` the resident memory before the block (rss.before) and the
    highest seen while it runs (rss.peak), sampled every 20 ms: flat when work is streamed."""

    def __enter__(self) -> "RssPeak":
        self.before = self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())


NOTES = "## Notes"


def results_write(path: Path, report: str) -> None:
    """Write a fresh report to `path`, keeping the "## Notes" section the file already has
    (hand-written: what the figures mean, how they were run, what was tried)."""
    notes = path.read_text().partition(NOTES)[2] if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report + (f"\n{NOTES}{notes}" if notes else ""))


def results_section_write(path: Path, *, title: str, heading: str, section: str) -> None:
    """Put `section` (starting "## heading") in the results file at `path`, in place of the
    section of that heading the file has, so each database's run keeps the others'."""
    text = path.read_text() if path.exists() else title + "\n\n"
    pattern = re.compile(rf"^## {re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


@dataclass
class Rate:
    pairs_per_s: float = 0.0
    cores: float = 0.0  # CPU seconds per wall second in that run: how much of the CPU it got

    @property
    def per_cpu_second(self) -> float:
        """Pairs per CPU-second: comparable across runs that got different shares of the CPU."""
        return self.pairs_per_s / self.cores if self.cores else 0.0


def rates(backends: dict, pairs: Sequence, repeats: int) -> tuple[dict[str, Rate], dict[str, list]]:
    """Each backend's best run over repeats, and its labels. The backends take turns, so all
    see the same moments of a shared machine's load; the best run is the least disturbed."""
    for backend in backends.values():
        backend.label(pairs[:8])  # warm-up: lazy init, allocator, ORT's first-run graph work
    best, labels = {name: Rate() for name in backends}, {}
    for _ in range(repeats):
        for name, backend in backends.items():
            wall, cpu = time.perf_counter(), time.process_time()
            labels[name] = backend.label(pairs)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if len(pairs) / wall > best[name].pairs_per_s:
                best[name] = Rate(len(pairs) / wall, cpu / wall)
    return best, labels
