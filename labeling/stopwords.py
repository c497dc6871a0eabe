"""One short English stopword list, for BM25's tokens (distill.bm25) and the grading page's
highlighted query terms (annotate.text): enough to keep "the", "of" from dominating scores on
short queries or lighting up every line of a document."""

STOPWORDS = frozenset(
    [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "did", "do", "does", "for", "from", "has",
        "have", "how", "i", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "that", "the", "their",
        "there", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with",
        "you", "your",
    ]
)
