"""The one interface every labeler backend implements.

A backend takes a batch of pairs and returns, per pair, a grade, the distribution over the
grades, the expected grade and what it cost. Backends never touch the database: the labeling
job (labeling.services.labeling_jobs) reads pairs, calls a backend and writes ModelLabels.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from ..grades import GRADES


@dataclass(frozen=True)
class PairInput:
    """What a labeler sees of a pair: the query and the document with its metadata."""

    query: str
    text: str
    title: str = ""
    path: str = ""
    author: str = ""
    modified: str = ""  # ISO date, or ""
    url: str = ""
    source: str = ""
    pair_id: int | None = None
    document_id: str = ""  # external ids, for recorded runs
    query_id: str = ""


@dataclass
class Label:
    grade: int
    distribution: list[float]  # P(grade) for 0..3, sums to 1
    expected_grade: float
    latency_ms: float = 0.0  # this pair's share of its batch's wall time
    tokens_in: int = 0
    tokens_out: int = 0
    extra: dict = field(default_factory=dict)


# Why a pair got no label (labeling.models.SetAsidePair.Reason has the same values).
SET_ASIDE_REASONS = ("unparseable", "refusal", "content_filter", "timeout", "server_error")


@dataclass(frozen=True)
class SetAside:
    """A pair a backend could not grade, and why: a reply with no grade (after a repair
    prompt), a refusal, a content filter, or a timeout or server error after the retries."""

    reason: str  # one of SET_ASIDE_REASONS
    detail: str = ""


class PairsSetAside(RuntimeError):
    """Some pairs of a batch got no label. `labels` has the batch's labels in order, None where a
    pair was set aside; `set_aside` the reasons by position. A labeling job keeps the labels and
    sets those pairs aside (labeling.services.grading); any other caller fails, as before."""

    def __init__(self, labels: list[Label | None], set_aside: dict[int, SetAside]):
        first = next(iter(set_aside.values()))
        super().__init__(f"{len(set_aside)} of {len(labels)} pairs set aside; first: {first.reason}: {first.detail}")
        self.labels, self.set_aside = labels, set_aside


def labels_or_set_aside(results: Sequence[Label | SetAside]) -> list[Label]:
    """The labels, or PairsSetAside when any result is a SetAside."""
    set_aside = {i: r for i, r in enumerate(results) if isinstance(r, SetAside)}
    if set_aside:
        raise PairsSetAside([None if isinstance(r, SetAside) else r for r in results], set_aside)
    return [r for r in results if isinstance(r, Label)]


# Labeler params that are the job's (labeling.services.labeling_jobs) or the price list's
# (models.labeling_cost), not a backend's keyword arguments.
JOB_PARAMS = frozenset({"max_error_share", "price_per_million_input_tokens", "price_per_million_output_tokens",
                        "price_per_gpu_hour"})


def backend_params(params: dict) -> dict:
    """A labeler's params as its backend's keyword arguments."""
    return {key: value for key, value in params.items() if key not in JOB_PARAMS}


class LabelerBackend(Protocol):
    prompt_version: str

    def label(self, pairs: Sequence[PairInput]) -> list[Label]: ...


class GeneratorBackend(LabelerBackend, Protocol):
    """A backend that also writes text (local_lm, openai, vllm): a run's query generator."""

    def generate(
        self,
        prompts: Sequence[list[dict] | str],
        *,
        max_new_tokens: int = 32,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[str]: ...


def device_resolve(device: str):
    """A torch device; "auto" is the GPU where there is one."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def sdpa_without_cudnn():
    """Attention by any kernel but cuDNN's, which builds a plan for every new input shape (tens
    of milliseconds on a GPU): dynamically padded batches are mostly new shapes. On an H200 this
    took student training from 87 to 669 pairs/s (benchmarks/results/gpu.md)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def label_from_distribution(probs: ArrayLike, **cost) -> Label:
    """A label from (unnormalised) grade probabilities: argmax grade, expected grade."""
    p = np.clip(np.asarray(probs, dtype=float), 0, None)
    total = p.sum()
    p = p / total if total > 0 else np.full(len(GRADES), 1 / len(GRADES))
    return Label(
        grade=int(np.argmax(p)),
        distribution=[round(float(x), 6) for x in p],
        expected_grade=float(np.dot(p, GRADES)),
        **cost,
    )


def one_hot(grade: int, **cost) -> Label:
    return label_from_distribution([1.0 if g == grade else 0.0 for g in GRADES], **cost)
