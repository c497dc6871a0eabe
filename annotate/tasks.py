from celery import shared_task

from .services.dashboard import DASHBOARD_REFRESH_TASK, benchmark_stats_refresh


# No route of its own: it goes to CELERY_TASK_DEFAULT_QUEUE ("default").
@shared_task(name=DASHBOARD_REFRESH_TASK)
def dashboard_refresh(benchmark_id: int) -> None:
    """Recompute a benchmark's agreement dashboard (idempotent: the last run wins)."""
    benchmark_stats_refresh(benchmark_id=benchmark_id)
