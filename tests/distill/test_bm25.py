import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from config.demo import DEMO_DIR
from distill.bm25 import K1, B, BM25Index, index_cached, texts_fingerprint, tokenize


@pytest.fixture(scope="module")
def demo_texts():
    return [p.read_text(errors="replace") for p in sorted((DEMO_DIR / "corpus").rglob("*")) if p.is_file()]


def zipf_corpus(n: int, seed: int = 0) -> list[str]:
    """Documents from a Zipf vocabulary, as running text: long posting lists and many ties."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{r}" for r in np.minimum(rng.zipf(1.2, size=rng.integers(5, 40)), 2000))
            for _ in range(n)]


def test_tokenize_lowercases_and_drops_stopwords():
    assert tokenize("How do I rotate the TLS certs?") == ["rotate", "tls", "certs"]


def test_the_index_gives_rank_bm25s_top_k_and_scores(demo_texts):
    """rank-bm25 is the reference: same tokenization, same Okapi formula, same top 10."""
    queries = ["postgres failover runbook", "parental leave days", "q3 budget priya", "kafka consumer lag alert",
               "travel expense hotel limit toronto", "how to rotate tls certificates"]
    engine = BM25Index.build(demo_texts)
    hits, scores = engine.search(queries, k=10)
    reference = BM25Okapi([tokenize(t) for t in demo_texts], k1=K1, b=B, epsilon=0)
    for query, row, row_scores in zip(queries, hits, scores, strict=True):
        expected = reference.get_scores(tokenize(query))
        top = np.argsort(-expected, kind="stable")[:10]
        matched = expected[top] > 0  # documents that share no term with the query tie at 0
        assert list(row[matched]) == list(top[matched]), query
        np.testing.assert_allclose(row_scores, expected[top], rtol=1e-4)


def test_a_batch_on_threads_gives_exactly_what_one_query_at_a_time_gives():
    docs = zipf_corpus(3000)
    rng = np.random.default_rng(1)
    starts, lengths = rng.integers(0, 3000, 300), rng.integers(1, 5, 300)
    queries = [" ".join(docs[i].split()[:n]) for i, n in zip(starts, lengths, strict=True)]
    queries += ["the of and", "w1", "nothing matches this"]  # all stopwords, one common term, unknown words
    index = BM25Index.build(docs)
    hits, scores = index.search(queries, k=20, threads=2)
    for query, row, row_scores in zip(queries, hits, scores, strict=True):
        one_hits, one_scores = index.search([query], k=20, threads=1)
        assert list(row) == list(one_hits[0]) and list(row_scores) == list(one_scores[0]), query
        # and what scoring every document and sorting it all gives, equal scores in document order
        every = np.zeros(index.size, dtype=np.float32)
        for t in tokenize(query):
            if t in index.vocab:
                every[index.indices[index.indptr[index.vocab[t]] : index.indptr[index.vocab[t] + 1]]] += (
                    index.data[index.indptr[index.vocab[t]] : index.indptr[index.vocab[t] + 1]])
        assert list(row) == list(np.lexsort((np.arange(index.size), -every))[:20]), query


def test_equal_scores_come_in_document_order():
    index = BM25Index.build(["gamma", "alpha beta", "delta", "alpha beta", "epsilon", "zeta"])
    hits, scores = index.search(["alpha", "omega"], k=4)
    assert list(hits[0]) == [1, 3, 0, 2] and scores[0][0] == scores[0][1] > 0 == scores[0][2]
    assert list(hits[1]) == [0, 1, 2, 3] and (scores[1] == 0).all()


def test_a_query_of_stopwords_only_matches_nothing(demo_texts):
    _, scores = BM25Index.build(demo_texts[:20]).search(["what is the"], k=5)
    assert (scores == 0).all()


def test_a_saved_index_is_reused_and_rebuilt_when_the_texts_change(tmp_path):
    docs = zipf_corpus(500)
    built = []

    def texts(docs=docs):
        built.append(1)
        return iter(docs)

    first, was_built = index_cached(directory=tmp_path, fingerprint=texts_fingerprint(docs), texts=texts)
    again, was_built_again = index_cached(directory=tmp_path, fingerprint=texts_fingerprint(docs), texts=texts)
    assert (was_built, was_built_again, len(built)) == (True, False, 1)
    query = [" ".join(docs[7].split()[:3])]
    assert np.array_equal(first.search(query, k=10)[0], again.search(query, k=10)[0])

    edited = [*docs[:-1], docs[-1] + " w1999"]
    assert texts_fingerprint(edited) != texts_fingerprint(docs)
    _, rebuilt = index_cached(directory=tmp_path, fingerprint=texts_fingerprint(edited), texts=lambda: iter(edited))
    assert rebuilt and [p.name for p in tmp_path.iterdir()] == [texts_fingerprint(edited)]  # the stale one removed
