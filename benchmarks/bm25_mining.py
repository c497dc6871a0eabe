"""Mining at scale: 10,000 queries' top k over a million documents, batched on threads, from an
index built once and reused (distill.bm25, as the mining stage uses it).

    .venv/bin/python benchmarks/bm25_mining.py [--docs 1000000] [--queries 10000] [--k 21]
        [--threads 1 2] [--old-sample 200] [--oracle-docs 100000] [--oracle-queries 50]

The corpus is synthetic, generated here (benchmarks/bm25_scale.py's: 60-180 words from a Zipf
vocabulary of 50,000 terms; queries of 3-6 words of a random document); nothing is downloaded.
The index is saved under var/benchmarks/bm25/ keyed by the corpus's fingerprint: the first run
builds it, later runs load it (both times are reported, the load measured in every run).

Measured in one run, on the same index and queries:
- the batch: all queries in one search() on each --threads count;
- one query at a time through the same engine, on every query: its top k must equal the
  batch's, query by query, ids and scores (asserted);
- the path mining took before (bm25s's own retrieve, one query per call) on --old-sample
  queries, scaled to all of them: the ratio; its scores must equal the batch's;
- rank-bm25 (BM25Okapi, the oracle) on the first --oracle-docs documents, --oracle-queries
  queries: the same top 10, score for score.
Prints the table and writes benchmarks/results/bm25_mining.md (keeping its "## Notes").
"""

import argparse
import datetime as dt
import functools
import os
import resource
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bm25_scale import corpus, queries_from  # noqa: E402

from distill.bm25 import K1, B, BM25Index, index_cached, texts_fingerprint, tokenize  # noqa: E402

from report import cpu_description, results_write  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "bm25_mining.md"
CACHE = REPO / "var" / "benchmarks" / "bm25"
COMPARED = 10


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def old_path(index: BM25Index, queries: list[str], k: int) -> tuple[list[np.ndarray], float]:
    """bm25s's retrieve, one query per call, on the same weights: what mining did before."""
    import bm25s

    engine = bm25s.BM25(k1=K1, b=B, method="robertson")
    engine.scores = {"data": np.asarray(index.data), "indices": np.asarray(index.indices),
                     "indptr": np.asarray(index.indptr), "num_docs": index.size}
    engine.vocab_dict, engine.nonoccurrence_array = index.vocab, None
    empty = next(iter(index.vocab))  # bm25s wants one known token; every score is summed from data
    started = time.perf_counter()
    scores = []
    for q in queries:
        tokens = [t for t in tokenize(q) if t in index.vocab] or [empty]
        scores.append(engine.retrieve([tokens], k=k, show_progress=False, n_threads=0).scores[0])
    return scores, (time.perf_counter() - started) / len(queries)


def oracle_agreement(docs: list[str], queries: list[str]) -> float:
    from rank_bm25 import BM25Okapi

    reference = BM25Okapi([tokenize(d) for d in docs], k1=K1, b=B, epsilon=0)
    hits, scores = BM25Index.build(docs).search(queries, COMPARED)
    same = []
    for q, top, got in zip(queries, hits, scores, strict=True):
        ref = reference.get_scores(tokenize(q))
        # Ties make the sets ambiguous: agree when the top 10 carry the reference's 10 best scores,
        # each the reference's score of that very document.
        best = np.sort(ref)[::-1][:COMPARED]
        same.append(np.allclose(best, got, rtol=1e-5) and np.allclose(ref[top], got, rtol=1e-5))
    return float(np.mean(same))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=21, help="mining asks bm25_negatives + 1")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--old-sample", type=int, default=200)
    parser.add_argument("--oracle-docs", type=int, default=100_000)
    parser.add_argument("--oracle-queries", type=int, default=50)
    args = parser.parse_args()
    load_before = os.getloadavg()
    rng = np.random.default_rng(args.docs)
    docs, generate_s = timed(lambda: corpus(args.docs, rng))
    queries = queries_from(docs, args.queries, rng)
    fingerprint, fingerprint_s = timed(functools.partial(texts_fingerprint, docs))
    cached = functools.partial(index_cached, directory=CACHE / str(args.docs), fingerprint=fingerprint,
                               texts=functools.partial(iter, docs))
    (index, built), first_s = timed(cached)
    (index, _), load_s = timed(cached)
    print(f"corpus {generate_s:.0f} s, fingerprint {fingerprint_s:.1f} s, index {'built' if built else 'loaded'}"
          f" {first_s:.1f} s, loaded {load_s:.2f} s; peak {peak_gib():.1f} GiB", flush=True)

    batches = {}
    for threads in args.threads:
        batches[threads] = timed(lambda threads=threads: index.search(queries, args.k, threads=threads))
        print(f"batch on {threads} thread(s): {batches[threads][1]:.1f} s", flush=True)
    (hits, scores), _ = batches[args.threads[0]]
    for (other_hits, other_scores), _ in batches.values():
        assert np.array_equal(hits, other_hits) and np.array_equal(scores, other_scores)

    def one_at_a_time():
        for i, q in enumerate(queries):
            one_hits, one_scores = index.search([q], args.k)
            assert np.array_equal(one_hits[0], hits[i]) and np.array_equal(one_scores[0], scores[i]), q

    _, single_s = timed(one_at_a_time)
    print(f"one at a time, same engine, all {len(queries):,}: {single_s:.1f} s, identical top {args.k}", flush=True)

    sample = queries[: args.old_sample]
    old_scores, old_per_query = old_path(index, sample, args.k)
    old_same = all(np.array_equal(np.sort(o), np.sort(scores[i].astype(np.float32))) for i, o in enumerate(old_scores))
    print(f"old path: {old_per_query * 1000:.1f} ms/query on {len(sample)}; same scores: {old_same}", flush=True)

    oracle_rng = np.random.default_rng(0)
    prefix = docs[: args.oracle_docs]
    del docs
    agreement = oracle_agreement(prefix, queries_from(prefix, args.oracle_queries, oracle_rng))
    print(f"rank-bm25 agreement {agreement:.0%}; peak {peak_gib():.1f} GiB", flush=True)

    best_threads = min(batches, key=lambda t: batches[t][1])
    best_s = batches[best_threads][1]
    old_total = old_per_query * len(queries)
    lines = [
        "# Mining at scale: batched top k from a saved BM25 index",
        "",
        f"- command: `.venv/bin/python benchmarks/bm25_mining.py {shlex.join(sys.argv[1:])}`".rstrip(),
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}; {cpu_description()}; load average before"
        f" {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (the machine is shared);"
        f" peak memory of the process {peak_gib():.1f} GiB",
        f"- synthetic corpus of {args.docs:,} documents (60-180 words, Zipf vocabulary of 50,000 terms),"
        f" {len(queries):,} queries of 3-6 words; top {args.k} per query (mining's bm25_negatives + 1)",
        f"- index: {'built' if built else 'loaded (built by an earlier run)'} in {first_s:.1f} s,"
        f" loaded from var/benchmarks/bm25 in {load_s:.2f} s (memory-mapped); corpus fingerprint {fingerprint_s:.1f} s;"
        f" {len(index.data):,} nonzero weights",
        "",
        "| path | queries timed | seconds | ms/query | all queries, s |",
        "|---|---|---|---|---|",
    ]
    for threads, (_, seconds) in batches.items():
        lines.append(f"| batch, {threads} thread(s) | {len(queries):,} | {seconds:.1f}"
                     f" | {seconds / len(queries) * 1000:.2f} | {seconds:.1f} |")
    lines += [
        f"| one at a time, same engine | {len(queries):,} | {single_s:.1f} | {single_s / len(queries) * 1000:.2f}"
        f" | {single_s:.1f} |",
        f"| one at a time, bm25s retrieve (mining before) | {len(sample):,} | {old_per_query * len(sample):.1f}"
        f" | {old_per_query * 1000:.1f} | {old_total:.0f} (scaled) |",
        "",
        f"- best batch ({best_threads} thread(s)) against mining before: **{old_total / best_s:.0f}x** on the queries"
        f" ({best_s:.1f} s against {old_total:.0f} s scaled from {len(sample)})",
        f"- top {args.k} of the batch equal to one at a time on all {len(queries):,} queries"
        f" (ids and scores, asserted);"
        f" bm25s retrieve's scores the same on its {len(sample)}: {'yes' if old_same else 'NO'}",
        f"- rank-bm25 (oracle) on the first {len(prefix):,} documents, {args.oracle_queries} queries: same top"
        f" {COMPARED} on {agreement:.0%}",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    results_write(RESULTS, report)


if __name__ == "__main__":
    main()
