import pytest

from distill.config import run_batch
from distill.models import Run
from distill.services import mining
from distill.services.mining import corpus_index_get, pairs_mine
from distill.services.runs import Cancelled, run_cancel, run_launch, stage_progress
from distill.services.synthesis import query_clean, query_rejection
from labeling.models import Document, Pair, Query
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


def test_the_corpus_index_is_built_once_reused_and_rebuilt_when_a_document_changes(run, artifact_dir, monkeypatch):
    build, builds = mining.BM25Index.build, []
    monkeypatch.setattr(mining.BM25Index, "build", lambda texts: builds.append(1) or build(texts))
    index, doc_ids = corpus_index_get(corpus=run.corpus)
    again, _ = corpus_index_get(corpus=run.corpus)
    assert len(builds) == 1
    assert doc_ids == sorted(Document.objects.filter(corpus=run.corpus).values_list("id", flat=True))
    assert again.size == index.size == len(doc_ids) and "kubernetes" not in again.vocab

    doc = Document.objects.get(id=doc_ids[5])
    doc.text += " kubernetes"
    doc.save()
    edited, _ = corpus_index_get(corpus=run.corpus)
    assert len(builds) == 2 and list(edited.search(["kubernetes"], k=1)[0][0]) == [5]
    assert len(list((artifact_dir / "bm25" / f"corpus-{run.corpus.id}").iterdir())) == 1  # the stale index gone
    pairs_mine(run)  # mining uses the saved index
    assert len(builds) == 2


def test_mining_again_adds_nothing(run):
    pairs_mine(run)
    before = sorted(Pair.objects.values_list("query_id", "document_id", "origin"))
    Pair.objects.filter(query__external_id__endswith="-7").delete()  # as if killed before the last query
    run.refresh_from_db()
    pairs_mine(run)
    assert sorted(Pair.objects.values_list("query_id", "document_id", "origin")) == before


def test_a_run_cancelled_mid_stage_stops_at_the_next_checkpoint_and_keeps_the_batches_before(run, monkeypatch):
    monkeypatch.setattr(mining, "QUERY_BATCH", 4)
    search = mining.BM25Index.search
    calls = []

    def search_then_cancel(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # while the second batch is mined
            run_cancel(run=Run.objects.get(id=run.id))
        return search(self, *args, **kwargs)

    monkeypatch.setattr(mining.BM25Index, "search", search_then_cancel)
    with pytest.raises(Cancelled):
        pairs_mine(run)
    # The second batch's pairs went with its checkpoint's transaction; the first batch's stay.
    assert Pair.objects.filter(origin=Pair.Origin.POSITIVE).count() == 4
    assert Run.objects.get(id=run.id).progress["mine"]["done"] == 4


def test_recording_progress_never_raises_even_on_a_cancelled_run(run):
    run_cancel(run=run)
    stage_progress(run_id=run.id, stage="mine", done=1, total=2)
    assert Run.objects.get(id=run.id).progress["mine"]["done"] == 1


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
