"""The agreement dashboard's stored figures: refreshed on a worker (task annotate.dashboard_refresh),
asked for at most once per STALE_SECONDS per benchmark. The figures themselves are computed by
annotate.selectors.dashboard."""

from django.core.cache import cache
from django.utils import timezone

from labeling.enqueue import Sending, task_enqueue

from ..models import Benchmark, BenchmarkStats
from ..selectors.dashboard import STALE_SECONDS, benchmark_dashboard_compute

DASHBOARD_REFRESH_TASK = "annotate.dashboard_refresh"


def benchmark_stats_refresh(*, benchmark_id: int) -> BenchmarkStats | None:
    """Compute the figures and store them (idempotent: the last run wins). None when the
    benchmark no longer exists."""
    benchmark = Benchmark.objects.filter(pk=benchmark_id).first()
    if benchmark is None:
        return None
    payload = benchmark_dashboard_compute(benchmark=benchmark)
    stats, _ = BenchmarkStats.objects.update_or_create(
        benchmark=benchmark, defaults={"payload": payload, "computed_at": timezone.now()}
    )
    return stats


def benchmark_stats_enqueue(*, benchmark: Benchmark, force: bool = False) -> Sending | None:
    """Ask the worker for fresh figures once the current transaction commits. Without `force`
    at most one request per benchmark per STALE_SECONDS (many open pages, one computation).
    None when none was asked for; else whether the queue took it (a failed request is not
    counted, so the next open page asks again)."""
    key = f"annotate:dashboard-refresh:{benchmark.pk}"
    if not force and not cache.add(key, 1, timeout=STALE_SECONDS):
        return None
    return task_enqueue(task=DASHBOARD_REFRESH_TASK, args=(benchmark.pk,), on_failure=lambda: cache.delete(key))
