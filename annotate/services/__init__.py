"""Business logic of the human workflow: typed, keyword-only functions named <noun>_<verb>."""

from .benchmarks import (
    annotator_create,
    benchmark_counts_refresh,
    benchmark_create,
    benchmark_exclude_gated_set,
    benchmark_import,
    benchmark_items_add,
    benchmark_sample_stratified,
    guidelines_accept,
    highlight_preference_set,
    membership_add,
    membership_remove,
    pairs_by_query,
)
from .queue import (
    GuidelinesRequired,
    NotEditable,
    NotLeased,
    PairFull,
    QueueError,
    Submitted,
    Undone,
    judgment_regrade,
    judgment_submit,
    judgment_undo,
    lease_duration,
    lease_renew,
    membership_for,
    pair_cant_judge,
    pair_next_for_annotator,
    pair_skip,
)

__all__ = [
    "GuidelinesRequired", "NotEditable", "NotLeased", "PairFull", "QueueError", "Submitted", "Undone",
    "annotator_create",
    "benchmark_counts_refresh", "benchmark_create", "benchmark_exclude_gated_set", "benchmark_import",
    "benchmark_items_add",
    "benchmark_sample_stratified", "guidelines_accept", "highlight_preference_set",
    "judgment_regrade", "judgment_submit", "judgment_undo",
    "lease_duration", "lease_renew", "membership_add", "membership_for", "membership_remove",
    "pair_cant_judge", "pair_next_for_annotator", "pair_skip", "pairs_by_query",
]
