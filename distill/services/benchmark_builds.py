"""A benchmark made from a corpus and its queries, on a worker: its pairs chosen one of four
ways (all imported pairs; BM25's top k per query; TREC run files' top k, pooled; a sample
stratified by a labeler's grade), then gold and calibration items picked across the grades a
reference labeler gave.

Why a job: BM25 indexes the whole corpus first (9 s at 100,000 documents, 135 s at a million:
benchmarks/results/bm25_scale.md), and deep run files pooled over many queries write tens of
thousands of pairs; the quick methods go the same way, so the page shows one kind of progress.
Idempotent: pairs are made where missing and items added by pair, so a resumed build ends with
the same benchmark.
"""

import random
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from annotate.models import Benchmark
from annotate.services import benchmark_create, benchmark_items_add, pairs_by_query
from annotate.services.benchmarks import grades_stratify
from labeling.enqueue import job_enqueue, job_requeue
from labeling.grades import GRADES
from labeling.importers import ImportFileError
from labeling.importers.batches import batched, valid_slug
from labeling.importers.runs import run_top_k
from labeling.models import Corpus, Document, Labeler, ModelLabel, Pair, Query
from labeling.services.import_jobs import import_upload_discard
from labeling.workers import job_claim, jobs_stranded, resumer

from ..models import BenchmarkBuild
from .mining import corpus_index_get

BENCHMARK_BUILD_TASK = "distill.benchmark_build"
QUERY_BATCH = 256
MAX_PAIRS = 1_000_000
MAX_DEPTH = 1000  # BM25's or a run's k per query


def benchmark_build_create(*, name: str, corpus: Corpus, method: str, params: dict, user=None) -> BenchmarkBuild:
    """Check what can be checked now (a name, a method, bounds), save the build and send it to a
    worker; ValueError for what is wrong."""
    valid_slug("benchmark", name)
    if method not in BenchmarkBuild.Method.values:
        raise ValueError(f"unknown way to choose pairs {method!r}")
    if Benchmark.objects.filter(name=name).exists() or BenchmarkBuild.objects.filter(
            name=name, status__in=BenchmarkBuild.ACTIVE).exists():
        raise ValueError(f"a benchmark named {name!r} exists already (or is being made)")
    if method in (BenchmarkBuild.Method.BM25, BenchmarkBuild.Method.RUNS) and not 1 <= params.get("k", 0) <= MAX_DEPTH:
        raise ValueError(f"k must be between 1 and {MAX_DEPTH}")
    if method == BenchmarkBuild.Method.RUNS and not params.get("run_paths"):
        raise ValueError("pooling needs at least one run file")
    if method == BenchmarkBuild.Method.STRATIFIED and not params.get("labeler"):
        raise ValueError("a stratified sample needs a labeler")
    if params.get("gold_share", 0) and not params.get("reference"):
        raise ValueError("gold pairs need known grades: choose the labeler whose grades they are")
    with transaction.atomic():
        build = BenchmarkBuild.objects.create(name=name, corpus=corpus, method=method, params=params, created_by=user)
        job_enqueue(model=BenchmarkBuild, pk=build.id, task=BENCHMARK_BUILD_TASK, args=(build.id,), queue="default")
    return build


def benchmark_build_run(*, build_id: int, owner: str = "") -> BenchmarkBuild:
    build = BenchmarkBuild.objects.select_related("corpus").get(id=build_id)
    if not build.is_active:
        return build
    if owner and not job_claim(BenchmarkBuild, build.id, me=owner):
        return build
    BenchmarkBuild.objects.filter(id=build.id).update(status=BenchmarkBuild.Status.RUNNING,
                                                      started_at=build.started_at or timezone.now())
    try:
        pair_ids = _choose(build)
        if not pair_ids:
            raise ValueError("no pairs chosen: import queries (and pairs, for this way) first")
        benchmark = _benchmark_make(build, pair_ids)
    except ImportFileError as exc:
        _finish(build, BenchmarkBuild.Status.FAILED, error={"message": exc.detail, "file": Path(exc.path).name,
                                                            "line": exc.line, "field": exc.field})
    except ValueError as exc:
        _finish(build, BenchmarkBuild.Status.FAILED, error={"message": str(exc), "file": None, "line": None,
                                                            "field": None})
    else:
        _finish(build, BenchmarkBuild.Status.SUCCEEDED, benchmark=benchmark)
    return BenchmarkBuild.objects.get(id=build.id)


def _finish(build: BenchmarkBuild, status: str, *, error: dict | None = None, benchmark: Benchmark | None = None):
    BenchmarkBuild.objects.filter(id=build.id).update(status=status, error=error or {}, benchmark=benchmark,
                                                      finished_at=timezone.now())
    for path in build.params.get("run_paths", []) if build.params.get("uploaded") else []:
        import_upload_discard(path=path)


def _progress(build: BenchmarkBuild, done: int, total: int) -> None:
    BenchmarkBuild.objects.filter(id=build.id).update(done=done, total=total)


def _queries(build: BenchmarkBuild):
    queries = Query.objects.filter(corpus=build.corpus).order_by("id")
    if wanted := build.params.get("query_ids"):
        queries = queries.filter(external_id__in=wanted)
    return queries


def _choose(build: BenchmarkBuild) -> list[int]:
    method = build.method
    if method == BenchmarkBuild.Method.ALL:
        return list(Pair.objects.filter(query__in=_queries(build)).order_by("id").values_list("id", flat=True)
                    [:MAX_PAIRS])
    if method == BenchmarkBuild.Method.BM25:
        return _bm25(build)
    if method == BenchmarkBuild.Method.RUNS:
        return _pooled(build)
    return _stratified_sample(build)


def _pairs_make(keys: dict[tuple[int, int], tuple[int | None, float | None]]) -> list[int]:
    """Pair ids of (query id, document id) keys, made where missing with their BM25 rank and score."""
    Pair.objects.bulk_create([Pair(query_id=q, document_id=d, bm25_rank=rank, bm25_score=score)
                              for (q, d), (rank, score) in keys.items()], ignore_conflicts=True, batch_size=1000)
    found: dict[tuple[int, int], int] = {}
    for batch in batched(sorted({q for q, _ in keys}), 1000):
        found.update(((q, d), pid) for pid, q, d in Pair.objects.filter(query_id__in=batch)
                     .values_list("id", "query_id", "document_id"))
    return [found[key] for key in keys if key in found]


def _bm25(build: BenchmarkBuild) -> list[int]:
    k = build.params["k"]
    queries = list(_queries(build).values_list("id", "text"))
    if not queries or not Document.objects.filter(corpus=build.corpus).exists():
        return []
    _progress(build, 0, len(queries))
    index, doc_ids = corpus_index_get(corpus=build.corpus)  # the corpus's saved index, as mining's
    pair_ids: list[int] = []
    for start in range(0, len(queries), QUERY_BATCH):
        chunk = queries[start:start + QUERY_BATCH]
        hits, scores = index.search([text for _, text in chunk], k=k)
        keys: dict[tuple[int, int], tuple[int | None, float | None]] = {
            (query_id, doc_ids[i]): (rank, float(s))
            for (query_id, _), row, row_scores in zip(chunk, hits, scores, strict=True)
            for rank, (i, s) in enumerate(zip(row, row_scores, strict=True), 1) if s > 0}
        pair_ids += _pairs_make(keys)
        _progress(build, start + len(chunk), len(queries))
    return pair_ids


def _pooled(build: BenchmarkBuild) -> list[int]:
    """The union of every run's top k per query, over the queries the corpus has (a run's
    query or document the corpus lacks is a located error: the wrong corpus, most likely)."""
    k, paths = build.params["k"], build.params["run_paths"]
    qids = dict(_queries(build).values_list("external_id", "id"))
    wanted: dict[tuple[str, str], None] = {}
    for n, path in enumerate(paths):
        for qid, top in run_top_k(path=path, k=k).items():
            if qid in qids:
                wanted.update(((qid, d), None) for d in top)
        _progress(build, n + 1, len(paths) + 1)
    if not wanted:
        raise ValueError("no query of the run files is in the corpus (or among the queries chosen)")
    docids: dict[str, int] = {}
    for batch in batched(sorted({d for _, d in wanted}), 5000):
        docids.update(Document.objects.filter(corpus=build.corpus, external_id__in=batch)
                      .values_list("external_id", "id"))
    if missing := sorted({d for _, d in wanted} - set(docids)):
        raise ValueError(f"{len(missing)} documents of the runs are not in corpus {build.corpus.name} "
                         f"(the first: {missing[0]!r})")
    pair_ids = _pairs_make({(qids[q], docids[d]): (None, None) for q, d in wanted})
    _progress(build, len(paths) + 1, len(paths) + 1)
    return pair_ids


def _labeler_grades(labeler_name: str, pair_ids=None, queries=None) -> dict[int, int]:
    labeler = Labeler.objects.filter(name=labeler_name).first()
    if labeler is None:
        raise ValueError(f"no labeler named {labeler_name!r}")
    labels = ModelLabel.objects.filter(labeler=labeler)
    if queries is not None:
        labels = labels.filter(pair__query__in=queries)
    grades: dict[int, int] = {}
    for batch in batched(pair_ids, 5000) if pair_ids is not None else [None]:
        rows = labels if batch is None else labels.filter(pair_id__in=batch)
        grades.update(rows.values_list("pair_id", "grade").iterator(chunk_size=5000))
    return grades


def _by_grade(grades: dict[int, int]) -> dict[int, list[int]]:
    return {g: sorted(p for p, gg in grades.items() if gg == g) for g in GRADES}


def _stratified_sample(build: BenchmarkBuild) -> list[int]:
    grades = _labeler_grades(build.params["labeler"], queries=_queries(build))
    if not grades:
        raise ValueError(f"labeler {build.params['labeler']!r} graded none of the corpus's pairs")
    chosen = grades_stratify(_by_grade(grades), build.params.get("n", 100), random.Random(build.params.get("seed", 0)),
                         cover_all=False)
    return [pid for ids in chosen.values() for pid in ids]


def _benchmark_make(build: BenchmarkBuild, pair_ids: list[int]) -> Benchmark:
    """The benchmark and its items; gold and calibration items picked across the reference's
    grades (calibration without a reference: random pairs, graded by everyone first)."""
    params, seed = build.params, build.params.get("seed", 0)
    rng = random.Random(seed)
    known = _labeler_grades(params["reference"], pair_ids=pair_ids) if params.get("reference") else {}
    calibration_n, gold_n = params.get("calibration", 0), round(params.get("gold_share", 0) * len(pair_ids))
    if calibration_n + gold_n > len(pair_ids):
        raise ValueError(f"{calibration_n} calibration and {gold_n} gold pairs are more than the "
                         f"{len(pair_ids)} pairs chosen")
    if known:
        special = grades_stratify(_by_grade(known), min(len(known), calibration_n + gold_n), rng, cover_all=False)
        picked = sorted((p for ids in special.values() for p in ids),
                        key=lambda p: random.Random(f"{seed}:{p}").random())
    else:
        picked = rng.sample(sorted(pair_ids), calibration_n)
    calibration, gold = set(picked[:calibration_n]), picked[calibration_n:]
    with transaction.atomic():
        benchmark = benchmark_create(name=build.name, title=params.get("title", ""),
                                     guidelines=params.get("guidelines", ""),
                                     judgments_required=params.get("judgments_required", 3),
                                     gold_rate=params.get("gold_share", 0.0))
        benchmark_items_add(benchmark=benchmark, pair_ids=pairs_by_query(pair_ids=pair_ids, seed=seed),
                            gold={p: known[p] for p in [*calibration, *gold] if p in known}, calibration=calibration)
    return benchmark


@resumer
def benchmark_builds_resume() -> None:
    """Send again the builds no worker holds (never sent, or their worker died)."""
    active = BenchmarkBuild.objects.filter(status__in=BenchmarkBuild.ACTIVE)
    for build in jobs_stranded(active):
        if job_requeue(model=BenchmarkBuild, job=build, task=BENCHMARK_BUILD_TASK, args=(build.id,),
                       queue="default") is False:
            return
