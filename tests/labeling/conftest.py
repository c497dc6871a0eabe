"""Fixtures for the labeling tests: a fixed sample of real DL19 pairs, read straight from the
files beside the repository."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from labeling.labelers.base import PairInput
from tests.conftest import dl19_pair_inputs

# Nothing may download at run time. Set before transformers is first imported, since the hub
# reads it at import; subprocesses (the OpenAI server) inherit it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SAMPLE_PER_GRADE = {0: 14, 1: 12, 2: 12, 3: 12}  # 50 pairs, every NIST grade present


def dl19_sample(dl19_dir: Path) -> list[tuple[PairInput, int]]:
    """50 (pair, NIST grade) from qrels-nist.txt: per grade, the first pairs in the order of a
    hash of (qid, docid), a fixed spread across queries."""
    by_grade: dict[int, list[tuple[str, str, str]]] = {grade: [] for grade in SAMPLE_PER_GRADE}
    for line in (dl19_dir / "qrels-nist.txt").read_text().splitlines():
        qid, _, docid, grade = line.split()
        key = hashlib.sha1(f"{qid}:{docid}".encode()).hexdigest()
        by_grade[int(grade)].append((key, qid, docid))
    chosen = [
        (qid, docid, grade)
        for grade, quota in SAMPLE_PER_GRADE.items()
        for _, qid, docid in sorted(by_grade[grade])[:quota]
    ]
    inputs = dl19_pair_inputs(dl19_dir, [(qid, docid) for qid, docid, _ in chosen])
    return [(inputs[qid, docid], grade) for qid, docid, grade in chosen]


@pytest.fixture(scope="session")
def dl19_sample_labeled(dl19_dir) -> list[tuple[PairInput, int]]:
    return dl19_sample(dl19_dir)


@pytest.fixture(scope="session")
def dl19_sample_pairs(dl19_sample_labeled) -> list[PairInput]:
    """50 real DL19 pairs covering the four NIST grades, in a fixed order."""
    return [pair for pair, _ in dl19_sample_labeled]


@pytest.fixture(scope="session")
def dl19_sample_nist_grades(dl19_sample_labeled) -> list[int]:
    """The NIST grades of dl19_sample_pairs, in the same order."""
    return [grade for _, grade in dl19_sample_labeled]


SMOLLM2 = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def local_lm():
    """SmolLM2 as a local LM labeler, loaded once for the session (documents cut to 256 tokens)."""
    from labeling.labelers.local_lm import LocalLMBackend

    return LocalLMBackend(SMOLLM2, max_doc_tokens=256, batch_size=8, device="cpu")


@pytest.fixture(scope="session")
def local_lm_labels(local_lm, dl19_sample_pairs):
    """The local LM's labels of dl19_sample_pairs: the reference the other backends must match."""
    return local_lm.label(dl19_sample_pairs)


def assert_valid_labels(labels, n: int) -> None:
    """The invariants every grading backend's labels keep."""
    assert len(labels) == n
    for label in labels:
        p = np.asarray(label.distribution)
        assert p.shape == (4,) and (p >= 0).all()
        assert p.sum() == pytest.approx(1, abs=1e-5)
        assert label.grade == int(np.argmax(p))
        assert label.expected_grade == pytest.approx(float(p @ np.arange(4)), abs=1e-5)
        assert label.tokens_in > 0 and label.tokens_out == 1
