"""A labeling job's pairs as Pair filter lookups, from a benchmark, or a corpus and query ids."""

from collections.abc import Sequence
from typing import Any

MAX_QUERY_IDS = 10_000


def pair_scope_build(*, benchmark: str | None = None, corpus: str | None = None,
                     query_ids: Sequence[str] | None = None) -> tuple[dict, str]:
    """(scope, description); exactly one of `benchmark` and `corpus`; `query_ids` narrows a corpus."""
    if bool(benchmark) == bool(corpus):
        raise ValueError("give a benchmark or a corpus (one of them)")
    scope: dict[str, Any]
    if benchmark:
        if query_ids:
            raise ValueError("query ids narrow a corpus, not a benchmark")
        return {"benchmarks__name": benchmark}, f"benchmark {benchmark}"
    scope, description = {"query__corpus__name": corpus}, f"corpus {corpus}"
    if query_ids:
        if len(query_ids) > MAX_QUERY_IDS:
            raise ValueError(f"at most {MAX_QUERY_IDS} query ids")
        scope["query__external_id__in"] = list(query_ids)
        description += f", {len(query_ids)} queries"
    return scope, description
