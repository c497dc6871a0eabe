"""Rows straight into a model's table, for benchmarks that need a million of them fast."""

from collections.abc import Iterable
from itertools import islice

from django.db import connection


def table_load(model, columns: list[str], rows: Iterable[tuple]) -> None:
    """Rows straight into the model's table: COPY on PostgreSQL, executemany elsewhere."""
    table = model._meta.db_table
    names = [model._meta.get_field(c).column for c in columns]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(names))
            it = iter(rows)
            while chunk := list(islice(it, 10_000)):
                cursor.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", chunk)
