import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from config.demo import DEMO_DIR
from distill.bm25 import K1, B, BM25Index, tokenize


@pytest.fixture(scope="module")
def demo_texts():
    return [p.read_text(errors="replace") for p in sorted((DEMO_DIR / "corpus").rglob("*")) if p.is_file()]


def test_tokenize_lowercases_and_drops_stopwords():
    assert tokenize("How do I rotate the TLS certs?") == ["rotate", "tls", "certs"]


def test_bm25s_gives_rank_bm25s_top_k_and_scores(demo_texts):
    """rank-bm25 is the reference: same tokenization, same Okapi formula, same top 10."""
    queries = ["postgres failover runbook", "parental leave days", "q3 budget priya", "kafka consumer lag alert",
               "travel expense hotel limit toronto", "how to rotate tls certificates"]
    engine = BM25Index(demo_texts)
    hits, scores = engine.search(queries, k=10)
    reference = BM25Okapi([tokenize(t) for t in demo_texts], k1=K1, b=B, epsilon=0)
    for query, row, row_scores in zip(queries, hits, scores, strict=True):
        expected = reference.get_scores(tokenize(query))
        top = np.argsort(-expected, kind="stable")[:10]
        matched = expected[top] > 0  # documents that share no term with the query tie at 0
        assert list(row[matched]) == list(top[matched]), query
        np.testing.assert_allclose(row_scores, expected[top], rtol=1e-4)


def test_a_query_of_stopwords_only_matches_nothing(demo_texts):
    _, scores = BM25Index(demo_texts[:20]).search(["what is the"], k=5)
    assert (scores == 0).all()
