import pytest

from distill.config import run_batch
from distill.mining import pairs_mine
from distill.runs import run_launch
from distill.synthesis import query_clean, query_rejection
from labeling.models import Pair, Query
from tests.factories import CorpusFactory, DocumentFactory

TOPICS = ["postgres failover runbook", "parental leave policy", "travel expense limits", "kafka consumer lag",
          "tls certificate rotation", "quarterly budget review", "vpn access setup", "incident postmortem template"]


@pytest.fixture
def run(db):
    corpus = CorpusFactory(name="mini")
    docs = [DocumentFactory(corpus=corpus, title=topic.title(), text=f"All about {topic}. " * 3 + f"version {i}")
            for i, topic in enumerate(TOPICS * 3)]
    run = run_launch(name="mine test", corpus=corpus, enqueue=False,
                     config={"mine": {"bm25_negatives": 3, "random_negatives": 2}})
    for i, doc in enumerate(docs[:8]):
        Query.objects.create(corpus=corpus, external_id=f"{run_batch(run)}-{i}", text=TOPICS[i],
                             origin=Query.Origin.SYNTHETIC, seed_document=doc, batch=run_batch(run))
    return run


def test_mining_gives_a_positive_hard_negatives_and_random_negatives_per_query(run):
    pairs_mine(run)
    for query in Query.objects.filter(batch=run_batch(run)):
        pairs = list(query.pairs.all())
        positives = [p for p in pairs if p.origin == Pair.Origin.POSITIVE]
        hard = sorted((p for p in pairs if p.origin == Pair.Origin.BM25_NEGATIVE), key=lambda p: p.bm25_rank)
        randoms = [p for p in pairs if p.origin == Pair.Origin.RANDOM_NEGATIVE]
        assert [p.document_id for p in positives] == [query.seed_document_id]
        # Only the topic's two other versions share a term with the query: a document that
        # scores 0 is no hard negative, so 2 of the 3 allowed.
        assert len(hard) == 2 and all(p.document_id != query.seed_document_id for p in hard)
        assert all(query.text.title() == p.document.title for p in hard)
        assert [p.bm25_score for p in hard] == sorted((p.bm25_score for p in hard), reverse=True)
        assert len(randoms) == 2
    run.refresh_from_db()
    assert run.progress["mine"]["done"] == run.progress["mine"]["total"] == 8


def test_mining_again_adds_nothing(run):
    pairs_mine(run)
    before = sorted(Pair.objects.values_list("query_id", "document_id", "origin"))
    Pair.objects.filter(query__external_id__endswith="-7").delete()  # as if killed before the last query
    run.refresh_from_db()
    pairs_mine(run)
    assert sorted(Pair.objects.values_list("query_id", "document_id", "origin")) == before


@pytest.mark.parametrize("query, reason", [
    ("vpn", "length"),
    ("a b c d e f g h i j k l m n o p q", "length"),
    ("postgres failover", "duplicate"),
    ("the quick brown fox jumps over lazy dogs", "copy"),
    ("fox jumping rules", None),
])
def test_generated_queries_are_filtered(query, reason):
    doc = "Note: the quick brown fox jumps over lazy dogs every day."
    assert query_rejection(query, doc, seen={"postgres failover"}, min_words=2, max_words=16) == reason


def test_generated_queries_are_cleaned():
    assert query_clean(' Query: "vpn setup guide". ') == "vpn setup guide"
