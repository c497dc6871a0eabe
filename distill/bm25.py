"""BM25 retrieval for hard-negative mining, at a million documents.

The index is bm25s's layout (a term-major sparse matrix of precomputed Okapi weights: data,
indices, indptr), built here in numpy chunks so a million documents fit in a few GiB, saved
as .npy files and memory-mapped back, so a corpus is indexed once and reused across runs.
Queries are answered many at a time on several threads; each query's scores are summed term
by term in query order (as bm25s and rank-bm25 do), so a batch gives exactly what one query at
a time gives. rank-bm25 is the reference it is tested against: same tokens, same formula.
"""

import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

import numpy as np

from labeling.stopwords import STOPWORDS

TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
K1, B = 1.5, 0.75
# Part of every fingerprint: a change to the tokenizer or the formula rebuilds saved indexes.
FORMAT = f"bm25-v2-k1={K1}-b={B}-{TOKEN.pattern}-{len(STOPWORDS)}"
BUILD_CHUNK = 20_000  # documents tokenized and counted at a time
ARRAYS = ("data", "indices", "indptr")


def tokenize(text: str) -> list[str]:
    return [t for t in TOKEN.findall(text.lower()) if t not in STOPWORDS]


def texts_fingerprint(texts: Iterable[str]) -> str:
    """A digest of the texts in order (and of FORMAT): the key of a saved index."""
    digest = hashlib.sha256(FORMAT.encode())
    for text in texts:
        raw = text.encode("utf-8", "surrogatepass")
        digest.update(len(raw).to_bytes(8, "little"))
        digest.update(raw)
    return digest.hexdigest()[:32]


class BM25Index:
    def __init__(self, *, vocab: dict[str, int], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                 size: int):
        self.vocab, self.data, self.indices, self.indptr, self.size = vocab, data, indices, indptr, size

    @classmethod
    def build(cls, texts: Iterable[str]) -> "BM25Index":
        """Okapi weights idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen)), with
        rank-bm25's idf log((N - df + 0.5) / (df + 0.5)) floored at 0 (its epsilon 0)."""
        vocab: dict[str, int] = {}
        docs, terms, tfs, lengths = [], [], [], []
        size = 0
        it = iter(texts)
        while chunk := list(islice(it, BUILD_CHUNK)):
            ids = [[vocab.setdefault(t, len(vocab)) for t in tokenize(text)] for text in chunk]
            length = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter((t for doc in ids for t in doc), dtype=np.int64, count=int(length.sum()))
            local = np.repeat(np.arange(len(chunk), dtype=np.int64), length)
            # One entry per (document, term) with its count; np.unique sorts by document, then term.
            keys, counts = np.unique(local * (1 << 32) + flat, return_counts=True)
            docs.append((keys >> 32).astype(np.int32) + size)
            terms.append((keys & 0xFFFFFFFF).astype(np.int32))
            tfs.append(counts.astype(np.float32))
            lengths.append(length)
            size += len(chunk)
        if not size:
            raise ValueError("cannot index an empty corpus")
        doc, term, tf = (np.concatenate(a) for a in (docs, terms, tfs))
        del docs, terms, tfs
        length = np.concatenate(lengths).astype(np.float32)
        df = np.bincount(term, minlength=len(vocab))
        idf = np.log(np.maximum((size - df + 0.5) / (df + 0.5), 1.0)).astype(np.float32)
        norm = np.float32(K1) * (np.float32(1 - B) + np.float32(B) * length / np.float32(length.mean() or 1))
        weight = idf[term] * tf * np.float32(K1 + 1) / (tf + norm[doc])
        del tf
        # A term in more than half the documents weighs 0: leaving it out changes no sum.
        keep = weight > 0
        doc, term, weight = doc[keep], term[keep], weight[keep]
        order = np.argsort(term, kind="stable")  # documents stay ascending within a term
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term, minlength=len(vocab)), out=indptr[1:])
        return cls(vocab=vocab, data=weight[order], indices=doc[order], indptr=indptr, size=size)

    def save(self, directory: Path) -> None:
        """Written beside, then renamed into place: a killed build leaves no half index."""
        part = directory.with_name(directory.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        for name in ARRAYS:
            np.save(part / f"{name}.npy", getattr(self, name))
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        (part / "meta.json").write_text(json.dumps({"size": self.size, "terms": terms}))
        shutil.rmtree(directory, ignore_errors=True)
        part.rename(directory)

    @classmethod
    def load(cls, directory: Path) -> "BM25Index":
        meta = json.loads((directory / "meta.json").read_text())
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        return cls(vocab={t: i for i, t in enumerate(meta["terms"])}, size=meta["size"], **arrays)

    def search(self, queries: Sequence[str], k: int, *, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores) of the top k documents per query, best first; equal scores in
        document order. Queries are spread over `threads` threads (numpy releases the GIL)."""
        k = min(k, self.size)
        terms = [[self.vocab[t] for t in tokenize(q) if t in self.vocab] for q in queries]
        if threads > 1 and len(queries) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                hits = list(pool.map(lambda ids: self._top(ids, k), terms, chunksize=16))
        else:
            hits = [self._top(ids, k) for ids in terms]
        if not hits:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k))
        return np.stack([h for h, _ in hits]), np.stack([s for _, s in hits]).astype(float)

    def _top(self, term_ids: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.zeros(self.size, dtype=np.float32)
        rarest: tuple[int, int] | None = None
        for t in term_ids:
            start, end = int(self.indptr[t]), int(self.indptr[t + 1])
            np.add.at(scores, self.indices[start:end], self.data[start:end])
            if end - start >= k and (rarest is None or end - start < rarest[1] - rarest[0]):
                rarest = (start, end)
        # The k-th best score among one term's documents is at most the k-th best of all: a
        # floor that leaves a few candidates to sort, where a partition of every score would
        # cost more than the scoring itself.
        floor = 0.0
        if rarest is not None:
            some = scores[self.indices[rarest[0] : rarest[1]]]
            floor = float(np.partition(some, len(some) - k)[len(some) - k])
        if floor > 0:
            top = np.flatnonzero(scores >= floor)
        else:  # fewer than k documents score above 0: they, then the first of the rest
            top = np.flatnonzero(scores > 0)
            top = np.concatenate([top, np.flatnonzero(scores == 0)[: k]])
        order = np.lexsort((top, -scores[top]))[:k]  # best first; equal scores in document order
        return top[order], scores[top[order]]

def index_cached(*, directory: Path, fingerprint: str, texts: Callable[[], Iterable[str]]) -> tuple[BM25Index, bool]:
    """The index saved under directory/fingerprint, built from texts() (and saved, replacing
    any other fingerprint's) when there is none; and whether it was built."""
    path = directory / fingerprint
    if (path / "meta.json").exists():
        return BM25Index.load(path), False
    index = BM25Index.build(texts())
    for stale in directory.glob("*"):  # a corpus changed since: its old index is dead weight
        shutil.rmtree(stale, ignore_errors=True)
    index.save(path)
    return BM25Index.load(path), True

