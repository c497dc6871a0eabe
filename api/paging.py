"""Pagination and filtering by ids, the same for every list."""

from typing import Annotated

from django.db.models import QuerySet
from ninja import Field, Schema

MAX_ID = 2**63 - 1  # a bigint: a larger one is refused (422) before it reaches the database
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

MAX_LIMIT = 200
MAX_IDS = 100


class Paging(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"Items per page, at most {MAX_LIMIT}.")
    offset: int = Field(0, ge=0, le=10_000_000)
    ids: list[Id] | None = Field(None, max_length=MAX_IDS, description=f"Only these ids (at most {MAX_IDS}).")


def page(queryset: QuerySet, paging: Paging) -> dict:
    """{count, limit, offset, items}; the items are model instances for the page's schema."""
    if paging.ids:
        queryset = queryset.filter(id__in=paging.ids)
    return {"count": queryset.count(), "limit": paging.limit, "offset": paging.offset,
            "items": list(queryset[paging.offset: paging.offset + paging.limit])}


class PageOut(Schema):
    count: int
    limit: int
    offset: int
