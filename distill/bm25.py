"""BM25 retrieval for hard-negative mining.

bm25s (sparse matrices, fast at a million documents) is the engine; rank-bm25 is the
reference it is tested against, on the same tokenization and the same Okapi formula.
"""

import re
from collections.abc import Sequence

import numpy as np

from labeling.stopwords import STOPWORDS

TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
K1, B = 1.5, 0.75


def tokenize(text: str) -> list[str]:
    return [t for t in TOKEN.findall(text.lower()) if t not in STOPWORDS]


class BM25Index:
    def __init__(self, texts: Sequence[str]):
        import bm25s

        # "robertson" is rank-bm25's BM25Okapi formula (with its epsilon at 0).
        self.engine = bm25s.BM25(k1=K1, b=B, method="robertson")
        self.size = len(texts)
        self.engine.index([tokenize(t) for t in texts], show_progress=False)

    def search(self, queries: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores) of the top k documents per query, best first."""
        k = min(k, self.size)
        tokens = [tokenize(q) or ["\x00"] for q in queries]  # an all-stopword query matches nothing
        indices, scores = self.engine.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        # bm25s leaves out Okapi's constant (k1 + 1) factor: same ranking, scaled scores.
        return np.asarray(indices), np.asarray(scores, dtype=float) * (K1 + 1)
