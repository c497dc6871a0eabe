"""Command-line scopes: which pairs a command works on."""

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError


def query_ids_read(path: str) -> list[str]:
    """Query ids, one per line (the first field; blank lines and # comments skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    return [line.split()[0] for line in lines if line.strip() and not line.lstrip().startswith("#")]


def pair_scope(
    *, benchmark: str | None = None, corpus: str | None = None, queries: str | None = None
) -> tuple[dict, str]:
    """Pair filter lookups and a description, from --benchmark or --corpus [--queries]."""
    scope: dict[str, Any]
    if benchmark:
        scope, description = {"benchmarks__name": benchmark}, f"benchmark {benchmark}"
    elif corpus:
        scope, description = {"query__corpus__name": corpus}, f"corpus {corpus}"
    else:
        scope, description = {}, "all pairs"
    if queries:
        scope["query__external_id__in"] = query_ids_read(queries)
        description += f", queries in {Path(queries).name}"
    return scope, description
