"""The demo: Brightwater Labs' intranet (invented for this project), its queries, a benchmark
ready to grade, and logins. Loading it again changes nothing."""

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER, user_role_set
from annotate.services import (
    benchmark_counts_refresh,
    benchmark_create,
    benchmark_items_add,
    membership_add,
    pairs_by_query,
)
from annotate.services.dashboard import benchmark_stats_refresh
from labeling.importers import documents_import, qrels_import, queries_import
from labeling.models import Labeler, Pair

DEMO_DIR = settings.BASE_DIR / "demo"
CORPUS = "brightwater"
BENCHMARK = "brightwater-demo"
# The offline models as a distillation run's generator and teacher: they prove the mechanics
# (SmolLM2-135M is a poor judge); production points a teacher at a large model's endpoint.
LABELERS: list[dict[str, Any]] = [
    {"name": "smollm2-generator", "role": Labeler.Role.GENERATOR},
    {"name": "smollm2-teacher", "role": Labeler.Role.TEACHER, "params": {"batch_size": 8, "max_doc_tokens": 256}},
]
# (username, is_staff, is_superuser, role)
USERS = [("admin", True, True, ADMIN), ("reviewer", False, False, REVIEWER)] + [
    (f"annotator{i}", False, False, ANNOTATOR) for i in (1, 2, 3)
]

GUIDELINES = """\
You are grading results of **Brightwater Labs' intranet search**. For each pair, read the query,
then the document (its title, path, author and date count too), and give one grade:

| key | grade | when |
|---|---|---|
| `3` | Perfectly relevant | the document is dedicated to the query and holds the exact answer |
| `2` | Highly relevant | it answers the query, but partly, or buried among other text |
| `1` | Related | on the query's topic, but it does not answer it |
| `0` | Irrelevant | nothing to do with the query |

Judge what the searcher wanted. A policy from the wrong year, a runbook for another database
or notes from another quarter are at most *related*. Don't look things up elsewhere: grade
the page in front of you. When unsure between two grades, pick the lower one and say why in
the comment box.
"""


@dataclass
class DemoSummary:
    documents: int
    queries: int
    pairs: int
    gold: int
    logins: dict[str, str]
    judgments: int = 0


def _logins() -> dict[str, str]:
    # Random per install, kept out of git in var/, so a demo never runs on a published password.
    path = Path(settings.VAR_DIR) / "demo-logins.json"
    logins = json.loads(path.read_text()) if path.exists() else {}
    for username, *_ in USERS:
        logins.setdefault(username, secrets.token_urlsafe(9))
    path.write_text(json.dumps(logins, indent=2))
    path.chmod(0o600)
    return logins


def _gold_pairs(grades: list[tuple[int, int]]) -> dict[int, int]:
    """One clear-cut pair per query as gold: a perfect match or an irrelevant one, in turn."""
    query_of = dict(Pair.objects.filter(id__in=[p for p, _ in grades]).values_list("id", "query_id"))
    gold: dict[int, int] = {}
    for index, query_id in enumerate(sorted(set(query_of.values()))):
        wanted = 3 if index % 2 == 0 else 0
        for pair_id, grade in grades:
            if query_of[pair_id] == query_id and grade == wanted:
                gold[pair_id] = grade
                break
    return gold


@transaction.atomic
def demo_load(*, demo_dir: Path = DEMO_DIR) -> DemoSummary:
    documents = documents_import(path=demo_dir / "corpus", corpus_name=CORPUS)
    queries = queries_import(path=demo_dir / "queries.tsv", corpus_name=CORPUS)
    pairs = qrels_import(path=demo_dir / "qrels.txt", corpus_name=CORPUS, return_grades=True)

    benchmark = benchmark_create(name=BENCHMARK, title="Brightwater intranet search (demo)", guidelines=GUIDELINES,
                                 judgments_required=3)
    assert pairs.grades is not None  # asked for with return_grades
    gold = _gold_pairs(pairs.grades)
    pair_ids = list(dict.fromkeys(pair_id for pair_id, _ in pairs.grades))
    # Query by query, shuffled within each (the benchmark service's order for every benchmark).
    benchmark_items_add(benchmark=benchmark, pair_ids=pairs_by_query(pair_ids=pair_ids), gold=gold)
    for spec in LABELERS:
        Labeler.objects.get_or_create(
            name=spec["name"],
            defaults={"role": spec["role"], "backend": Labeler.Backend.LOCAL_LM, "model_ref": "smollm2-135m-instruct",
                      "params": spec.get("params", {})},
        )

    logins = _logins()
    User = get_user_model()
    for username, is_staff, is_superuser, role in USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": is_staff, "is_superuser": is_superuser}
        )
        if created or not user.check_password(logins[username]):
            user.set_password(logins[username])
            user.save()
        user_role_set(user=user, role=role)
        if role == ANNOTATOR:
            membership_add(benchmark=benchmark, users=[user])
    judgments = _judgments_import(demo_dir, benchmark)
    return DemoSummary(
        documents=documents.read, queries=queries.read, pairs=len(pair_ids), gold=len(gold), logins=logins,
        judgments=judgments,
    )


def _judgments_import(demo_dir: Path, benchmark) -> int:
    """The demo annotators' grades of the first queries (demo/judgments/<username>.txt, written
    for the demo with each grader's habits), so the agreement dashboard and the review queue
    show something on first start. Re-imported, they replace themselves."""
    read = 0
    for path in sorted((demo_dir / "judgments").glob("*.txt")):
        read += qrels_import(path=path, corpus_name=CORPUS, annotator=path.stem).read
    benchmark_counts_refresh(benchmark=benchmark, judgment_counts=True)
    benchmark_stats_refresh(benchmark_id=benchmark.id)  # the dashboard's figures, before any worker runs
    return read
