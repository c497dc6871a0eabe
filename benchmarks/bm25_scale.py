"""BM25 for hard-negative mining at 100k and 1M documents: the engine (bm25s, distill.bm25)
against the reference (rank-bm25's BM25Okapi) on the same tokenization.

    .venv/bin/python benchmarks/bm25_scale.py [--sizes 100000 1000000] [--queries 200]
        [--reference-max 100000] [--reference-queries 20]

The corpus is synthetic (no real data is copied): documents of 60-180 words drawn from a
Zipf-distributed vocabulary of 50,000 terms, as in running text; queries are 3-6 words of a
random document, so every query has matches. For each size: time to tokenize and index, and
to retrieve the top 20 of each query. The reference runs up to --reference-max documents (its
index is a Python dict per document and a query scores every document), on the first
--reference-queries queries, and the engines' top 10 are compared there. The table is printed
and written to benchmarks/results/bm25_scale.md, keeping its hand-written "## Notes".
"""

import argparse
import datetime as dt
import functools
import resource
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from distill.bm25 import K1, B, BM25Index, tokenize  # noqa: E402

from report import cpu_description, results_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "bm25_scale.md"
VOCABULARY = 50_000
TOP_K, COMPARED = 20, 10


def corpus(n: int, rng: np.random.Generator) -> list[str]:
    words = np.array([f"t{i}" for i in range(VOCABULARY)])
    ranks = np.minimum(rng.zipf(1.1, size=n * 120), VOCABULARY) - 1
    lengths = rng.integers(60, 181, size=n)
    ends = np.cumsum(lengths)
    ranks = np.resize(ranks, ends[-1])
    tokens = words[ranks]
    return [" ".join(tokens[end - length : end]) for end, length in zip(ends, lengths, strict=True)]


def queries_from(docs: list[str], n: int, rng: np.random.Generator) -> list[str]:
    out = []
    for i in rng.integers(0, len(docs), size=n):
        words = docs[i].split()
        start = int(rng.integers(0, len(words) - 6))
        out.append(" ".join(words[start : start + int(rng.integers(3, 7))]))
    return out


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def reference(docs: list[str], queries: list[str]) -> tuple[float, float, list[np.ndarray]]:
    """Index seconds, seconds per query, and each query's scores of every document."""
    from rank_bm25 import BM25Okapi

    index, index_s = timed(lambda: BM25Okapi([tokenize(d) for d in docs], k1=K1, b=B, epsilon=0))
    scores, query_s = timed(lambda: [index.get_scores(tokenize(q)) for q in queries])
    return index_s, query_s / len(queries), scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--reference-max", type=int, default=100_000)
    parser.add_argument("--reference-queries", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        rng = np.random.default_rng(size)
        docs = corpus(size, rng)
        queries = queries_from(docs, args.queries, rng)
        index, index_s = timed(functools.partial(BM25Index.build, docs))
        (indices, _), search_s = timed(functools.partial(index.search, queries, TOP_K))
        row = {"size": size, "index_s": index_s, "query_ms": search_s / len(queries) * 1000}
        if size <= args.reference_max:
            few = queries[: args.reference_queries]
            ref_index_s, ref_query_s, ref_scores = reference(docs, few)
            engine, engine_scores = index.search(few, COMPARED)
            # Ties (common with short queries) make the sets ambiguous: a query agrees when the
            # engine's top 10 carry the reference's 10 best scores, each its own document's.
            same = np.mean([np.allclose(np.sort(ref)[::-1][:COMPARED], got, rtol=1e-5)
                            and np.allclose(ref[top], got, rtol=1e-5)
                            for ref, top, got in zip(ref_scores, engine, engine_scores, strict=True)])
            row |= {"ref_index_s": ref_index_s, "ref_query_ms": ref_query_s * 1000, "same_top": same}
        rows.append(row)
        print(row, flush=True)
        del docs, index, indices
    report = _report(rows, args)
    print(report)
    results_write(RESULTS, report)


def _report(rows: list[dict], args) -> str:
    def cell(row, key, fmt):
        return format(row[key], fmt) if key in row else "not run"

    lines = [
        "# BM25 at scale: bm25s (the engine) and rank-bm25 (the reference)",
        "",
        f"- command: `.venv/bin/python benchmarks/bm25_scale.py {shlex.join(sys.argv[1:])}`".rstrip(),
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}; {cpu_description()}; peak memory of the process"
        f" {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB",
        f"- synthetic documents of 60-180 words (Zipf vocabulary of {VOCABULARY:,} terms), {args.queries} queries of"
        f" 3-6 words from random documents; top {TOP_K} per query, one thread",
        f"- reference: rank-bm25 BM25Okapi (epsilon 0) up to {args.reference_max:,} documents, on"
        f" {args.reference_queries} queries; 'same top 10': the share of queries whose engine top {COMPARED}"
        f" hold the reference's {COMPARED} best"
        " scores, each equal to the reference's score of that document (ties make the sets themselves ambiguous)",
        "",
        "| documents | bm25s index s | bm25s ms/query | rank-bm25 index s | rank-bm25 ms/query"
        " | speed-up per query | same top 10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        speedup = f"{r['ref_query_ms'] / r['query_ms']:.0f}x" if "ref_query_ms" in r else ""
        lines.append(f"| {r['size']:,} | {r['index_s']:.1f} | {r['query_ms']:.2f} | {cell(r, 'ref_index_s', '.1f')} |"
                     f" {cell(r, 'ref_query_ms', '.0f')} | {speedup} | {cell(r, 'same_top', '.0%')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
