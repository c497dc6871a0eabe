"""The synthetic benchmark: documents and queries by COPY, pairs, benchmark items and judgments
by INSERT ... SELECT over generate_series (a million pairs load in minutes, not hours), the
small rows (the corpus, the benchmark, the people) through the models and services.

Every table and column name comes from the models, and each statement must set every column
of its model (`columns`): a field added, renamed or dropped stops the load with the model and
the field named, instead of loading rows the app no longer reads. The counters are then set by
the app's own repair (annotate.services.counters), and checked by it after each measurement.
"""

import datetime as dt
import json
import random
import sys
import time
from dataclasses import asdict, dataclass

import psycopg
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.db import connection, models
from django.db.models import Count, Max
from django.utils import timezone
from psycopg.types.numeric import Int8

from annotate.models import Benchmark, BenchmarkItem, BenchmarkStats, Lease, Membership, Skip
from annotate.roles import ADMIN, ANNOTATOR, roles_ensure
from annotate.services import benchmark_create
from annotate.services.counters import counters_check
from labeling.models import Corpus, Document, Judgment, Pair, Query

CORPUS, BENCHMARK = "load-corpus", "load"
PASSWORD = "load-benchmark"
LOAD_VERSION = 3  # bump when the generated data changes: a database loaded earlier is reloaded
GUIDELINES = """Grade how well the document answers the query.

- **3** the document is about the query and holds the answer.
- **2** it answers the query, partly or among other text.
- **1** on the query's topic, without answering it.
- **0** nothing to do with the query.

Judge the text shown, not the title alone; skip a pair you cannot judge."""


class SchemaChanged(RuntimeError):
    """The models have fields the loader does not set, or lack fields it sets."""


# --- names from the models -----------------------------------------------------------------------

def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(field) -> str:
    if not isinstance(field, models.Field) or not field.column:
        raise SchemaChanged(f"{field} is no column")
    return connection.ops.quote_name(field.column)


def col(model: type[models.Model], name: str) -> str:
    """A field's column (get_field raises FieldDoesNotExist for a field the model lost)."""
    return _column(model._meta.get_field(name))


def columns(model: type[models.Model], names: list[str]) -> str:
    """The columns of `names`, which must be every concrete field of the model but its primary key."""
    fields = {f.name: f for f in model._meta.concrete_fields if not f.primary_key}
    missing, unknown = sorted(fields.keys() - set(names)), sorted(set(names) - fields.keys())
    if missing or unknown:
        raise SchemaChanged(
            f"{model._meta.label} changed: the loader does not set {missing or 'nothing'} and sets fields it lacks"
            f" {unknown or '(none)'}; update benchmarks/grading_load/loader.py"
        )
    return ", ".join(_column(fields[n]) for n in names)


def insert_select(model: type[models.Model], values: dict[str, str]) -> str:
    """INSERT INTO the model's table, each field from its SQL expression in `values`; the FROM
    clause follows."""
    return f"INSERT INTO {table(model)} ({columns(model, list(values))}) SELECT {', '.join(values.values())}"


# --- the data ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scale:
    pairs: int
    judgments: int
    annotators: int
    gold: int
    required: int = 3
    per_query: int = 100
    seed: int = 0
    version: int = LOAD_VERSION

    @property
    def queries(self) -> int:
        return -(-self.pairs // self.per_query)

    @property
    def documents(self) -> int:
        # A pair's documents are spread with stride 101 (pairs_load): distinct within a query
        # as long as the count is no multiple of 101.
        n = max(self.pairs // 20, 2 * self.per_query)
        return n + 1 if n % 101 == 0 else n

    @property
    def bands(self) -> tuple[int, int, int]:
        """Regular items, in queue order, with `required` judgments, with required - 1 (pairs in
        progress: a tenth of the judgments), and with one (what is left)."""
        r = self.required
        partial = self.judgments // 10 // (r - 1) if r > 1 else 0
        full = (self.judgments - partial * (r - 1)) // r
        return full, partial, self.judgments - full * r - partial * (r - 1)


def _vocabulary(rng: random.Random, n: int = 6000) -> list[str]:
    """Pronounceable made-up words, plus enterprise words that queries and titles share."""
    onsets = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
              "br", "tr", "st", "pl", "gr", "ch", "sh"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
    codas = ["n", "r", "s", "t", "l", "m", "nd", "st", "rk"]
    words = {"".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(1, 3))) + rng.choice(codas)
             for _ in range(n)}
    common = ["budget", "policy", "report", "quarterly", "travel", "expense", "review", "onboarding", "security",
              "release", "plan", "roadmap", "contract", "invoice", "vendor", "hiring", "benefits", "payroll", "audit",
              "compliance", "incident", "backup", "migration", "customer", "launch", "pricing", "forecast",
              "meeting", "notes", "summary", "draft", "template", "guide", "process"]
    return sorted(words) + common * 20


def _text(rng: random.Random, vocab: list[str], words: int) -> str:
    """Sentences of 6-20 words in paragraphs of 3-6 sentences."""
    paragraphs: list[str] = []
    sentence: list[str] = []
    sentences: list[str] = []
    for word in rng.choices(vocab, k=words):
        sentence.append(word)
        if len(sentence) >= rng.randint(6, 20):
            sentences.append(" ".join(sentence).capitalize() + ".")
            sentence = []
            if len(sentences) >= rng.randint(3, 6):
                paragraphs.append(" ".join(sentences))
                sentences = []
    if sentence:
        sentences.append(" ".join(sentence).capitalize() + ".")
    return "\n\n".join([*paragraphs, " ".join(sentences)]).strip()


DOCUMENT_FIELDS = ["external_id", "title", "text", "path", "author", "modified_at", "url", "source", "extra", "corpus"]
QUERY_FIELDS = ["external_id", "text", "kind", "origin", "created_at", "corpus", "batch", "seed_document", "generator"]


def documents_copy(cur, scale: Scale, corpus_id: int) -> None:
    """A few hundred words each (150-600), with the enterprise metadata the page shows."""
    rng = random.Random(scale.seed)
    vocab = _vocabulary(rng)
    authors = [f"{rng.choice(vocab).title()} {rng.choice(vocab).title()}" for _ in range(200)]
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with cur.copy(f"COPY {table(Document)} ({columns(Document, DOCUMENT_FIELDS)}) FROM STDIN") as copy:
        for i in range(scale.documents):
            title = " ".join(rng.choices(vocab, k=rng.randint(3, 8))).title()
            copy.write_row((
                f"d{i}", title, _text(rng, vocab, rng.randint(150, 600)), f"/shared/{rng.choice(vocab)}/{i}.docx",
                rng.choice(authors), base + dt.timedelta(minutes=rng.randrange(1_000_000)),
                f"https://intranet.example/docs/{i}", "sharepoint", "{}", corpus_id,
            ))
    with cur.copy(f"COPY {table(Query)} ({columns(Query, QUERY_FIELDS)}) FROM STDIN") as copy:
        for i in range(scale.queries):
            copy.write_row((f"q{i}", " ".join(rng.choices(vocab, k=rng.randint(2, 6))), Query.Kind.INFORMATIONAL,
                            Query.Origin.SYNTHETIC, base, corpus_id, "", None, None))


def pairs_load(cur, scale: Scale, corpus_id: int, benchmark_id: int) -> None:
    """per_query pairs a query; items in query order, shuffled within a query (as
    pairs_by_query), one in every pairs/gold a gold item."""
    q_id, d_id, p_id = col(Query, "id"), col(Document, "id"), col(Pair, "id")
    cur.execute(
        insert_select(Pair, {
            "origin": "%(origin)s", "bm25_rank": "k + 1", "bm25_score": "30.0 - k * 0.2", "created_at": "now()",
            "document": "d.id", "query": "q.id",
        }) + f"""
        FROM (SELECT {q_id} AS id, row_number() OVER (ORDER BY {q_id}) - 1 AS n FROM {table(Query)}
              WHERE {col(Query, "corpus")} = %(c)s) q
        CROSS JOIN generate_series(0, %(per_query)s - 1) k
        JOIN (SELECT {d_id} AS id, row_number() OVER (ORDER BY {d_id}) - 1 AS n FROM {table(Document)}
              WHERE {col(Document, "corpus")} = %(c)s) d
          ON d.n = (q.n * 7919 + k * 101) %% %(docs)s
        WHERE q.n * %(per_query)s + k < %(pairs)s
        """,
        {"c": corpus_id, "per_query": scale.per_query, "docs": scale.documents, "pairs": scale.pairs,
         "origin": Pair.Origin.BM25_NEGATIVE.value},
    )
    step = scale.pairs // scale.gold if scale.gold else 0
    cur.execute(
        insert_select(BenchmarkItem, {
            "gold_grade": "CASE WHEN %(step)s > 0 AND n %% %(step)s = 0 THEN n / %(step)s %% 4 END",
            "position": "n", "benchmark": "%(b)s", "pair": "id", "is_calibration": "false", "judgment_count": "0",
        }) + f"""
        FROM (SELECT p.{p_id} AS id, row_number() OVER (ORDER BY p.{col(Pair, "query")}, md5(p.{p_id}::text)) AS n
              FROM {table(Pair)} p JOIN {table(Query)} q ON q.{q_id} = p.{col(Pair, "query")}
              WHERE q.{col(Query, "corpus")} = %(c)s) s
        """,
        {"step": step, "b": benchmark_id, "c": corpus_id},
    )


def judgments_load(cur, scale: Scale, benchmark_id: int, annotator_ids: list[int]) -> None:
    """The judgments of the regular items in queue order (the queue finishes pairs in progress
    first, so that is how a benchmark fills up): `bands` decides how many each item has.
    Annotators take turns (distinct on every pair); grades mostly agree on a pair's base grade."""
    full, partial, single = scale.bands
    r = scale.required
    cur.execute(
        insert_select(Judgment, {
            "grade": "CASE WHEN (n * 7 + k * 3) %% 10 < 7 THEN n %% 4 ELSE (n + 1 + k) %% 4 END",
            "seconds": "5 + (n * 13 + k) %% 40", "input_method": "%(method)s", "comment": "''",
            "created_at": "at", "updated_at": "at",
            "annotator": "(%(ids)s::int[])[1 + (n * %(r)s + k) %% %(a)s]", "pair": "pair_id",
        }) + f"""
        FROM (SELECT {col(BenchmarkItem, "pair")} AS pair_id,
                     row_number() OVER (ORDER BY {col(BenchmarkItem, "position")}, {col(BenchmarkItem, "id")}) AS n
              FROM {table(BenchmarkItem)}
              WHERE {col(BenchmarkItem, "benchmark")} = %(b)s AND {col(BenchmarkItem, "gold_grade")} IS NULL
                AND NOT {col(BenchmarkItem, "is_calibration")}) i
        CROSS JOIN generate_series(0, %(r)s - 1) k
        CROSS JOIN LATERAL (SELECT now() - (%(total)s - n * %(r)s - k) * interval '10 seconds' AS at) t
        WHERE k < CASE WHEN n <= %(full)s THEN %(r)s WHEN n <= %(full)s + %(partial)s THEN %(r)s - 1
                       WHEN n <= %(full)s + %(partial)s + %(single)s THEN 1 ELSE 0 END
        """,
        # Int8: psycopg sends a small Python int as smallint, and sums of those overflow.
        {"ids": annotator_ids, "r": Int8(r), "a": len(annotator_ids), "b": benchmark_id, "full": Int8(full),
         "partial": Int8(partial), "single": Int8(single), "total": Int8((full + partial + single) * r),
         "method": Judgment.InputMethod.KEY.value},
    )


def users_create(scale: Scale) -> tuple[list[int], int]:
    """The annotators (members of the benchmark, guidelines read) and an admin; one password
    hash for all, hashed once."""
    groups = roles_ensure()
    User = get_user_model()
    password = make_password(PASSWORD)
    annotators = User.objects.bulk_create(
        [User(username=f"load-ann{i:03d}", password=password) for i in range(scale.annotators)])
    admin = User.objects.create(username="load-admin", password=password, is_staff=True)
    Through = User.groups.through
    Through.objects.bulk_create([Through(user_id=u.pk, group_id=groups[ANNOTATOR].pk) for u in annotators]
                                + [Through(user_id=admin.pk, group_id=groups[ADMIN].pk)])
    return [u.pk for u in annotators], admin.pk


def database_create(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def load_state() -> dict | None:
    description = Corpus.objects.filter(name=CORPUS).values_list("description", flat=True).first()
    return json.loads(description) if description else None


def dataset_clear(cur) -> None:
    """Empty the benchmark's tables; only in a database that holds nothing but this benchmark."""
    if Corpus.objects.exclude(name=CORPUS).exists():
        sys.exit("this database holds other corpora: give --database-url a database of its own")
    tables = [Corpus, Document, Query, Pair, Judgment, Benchmark, BenchmarkItem, Membership, Lease, Skip,
              BenchmarkStats, Session]
    cur.execute(f"TRUNCATE {', '.join(table(m) for m in tables)} RESTART IDENTITY CASCADE")


def counters_repair(benchmark: Benchmark) -> int:
    """The app's own repair sets every counter from the rows (annotate.services.counters)."""
    return len(counters_check(fix=True, benchmark=benchmark))


def dataset_load(url: str, scale: Scale) -> None:
    steps = []

    def step(name: str, started: float) -> None:
        steps.append(f"{name} {time.perf_counter() - started:.1f}s")
        print(f"  {steps[-1]}", flush=True)

    t = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        dataset_clear(cur)
    get_user_model().objects.filter(username__startswith="load-").delete()
    annotator_ids, _ = users_create(scale)
    corpus = Corpus.objects.create(name=CORPUS)
    benchmark = benchmark_create(name=BENCHMARK, title="Load benchmark", guidelines=GUIDELINES,
                                 judgments_required=scale.required, gold_rate=0.1 if scale.gold else 0.0)
    Membership.objects.bulk_create([Membership(benchmark=benchmark, user_id=pk, guidelines_seen_at=timezone.now())
                                    for pk in annotator_ids])
    step("users", t)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        t = time.perf_counter()
        documents_copy(cur, scale, corpus.pk)
        step(f"{scale.documents} documents, {scale.queries} queries (COPY)", t)
        t = time.perf_counter()
        pairs_load(cur, scale, corpus.pk, benchmark.pk)
        step(f"{scale.pairs} pairs and items", t)
        t = time.perf_counter()
        judgments_load(cur, scale, benchmark.pk, annotator_ids)
        step(f"{scale.judgments} judgments", t)
        conn.commit()
    t = time.perf_counter()
    repaired = counters_repair(benchmark)
    step(f"counters ({repaired} set by counters_check --fix)", t)
    # Marked loaded only now, with everything in place.
    state = {"scale": asdict(scale), "judgment_max_id": Judgment.objects.aggregate(m=Max("id"))["m"] or 0}
    Corpus.objects.filter(pk=corpus.pk).update(description=json.dumps(state))
    t = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    step("ANALYZE", t)


def dataset_reset(url: str, state: dict) -> None:
    """Back to the loaded state: what earlier measurements added goes, counters follow."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM {table(Judgment)} WHERE {col(Judgment, 'id')} > %s", [state["judgment_max_id"]])
        touched = cur.rowcount
        cur.execute(f"TRUNCATE {', '.join(table(m) for m in (Lease, Skip, BenchmarkStats, Session))}")
    counters_repair(Benchmark.objects.get(name=BENCHMARK))
    if touched:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"VACUUM ANALYZE {table(Judgment)}, {table(BenchmarkItem)}, {table(Membership)}")


def dataset_ready(url: str, scale: Scale) -> bool:
    """Loaded with this scale (after a reset to the loaded state)?"""
    state = load_state()
    if not state or state["scale"] != asdict(scale):
        return False
    dataset_reset(url, state)
    items = BenchmarkItem.objects.filter(benchmark__name=BENCHMARK).count()
    return (items, Judgment.objects.count()) == (scale.pairs, scale.judgments)


def judgments_count() -> int:
    return Judgment.objects.count()


def database_checks(before: int, accepted: int) -> dict:
    """What a flow did to the database, against the `accepted` submits the server answered:
    judgments added, pairs over their required judgments, and counters that drifted (the
    app's own check, annotate.services.counters)."""
    benchmark = Benchmark.objects.get(name=BENCHMARK)
    regular = BenchmarkItem.objects.filter(benchmark=benchmark, is_calibration=False, gold_grade__isnull=True)
    over_cap = (Judgment.objects.filter(pair__in=regular.values("pair")).order_by().values("pair")
                .annotate(n=Count("id")).filter(n__gt=benchmark.judgments_required).count())
    drift = counters_check(benchmark=benchmark)
    return {
        "added": judgments_count() - before,
        "expected": accepted,
        "over_cap": over_cap,
        "item_counts_off": sum(d.model == BenchmarkItem._meta.label for d in drift),
        "member_counts_off": len({d.pk for d in drift if d.model == Membership._meta.label}),
    }
