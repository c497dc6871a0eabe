from django.http import Http404

from annotate.models import Benchmark
from annotate.selectors import benchmark_visible_get


def benchmark_or_404(request, name: str) -> Benchmark:
    """A benchmark the user may see; else 404 (one they may not see looks like one that is not there)."""
    try:
        return benchmark_visible_get(user=request.user, name=name)
    except Benchmark.DoesNotExist:
        raise Http404("no such benchmark") from None
