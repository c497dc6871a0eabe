"""Importers: files to documents, queries, pairs, judgments and recorded labels.

Each import is one transaction (a rejected file changes nothing), idempotent (re-importing
updates in place), and streams in batches with bulk writes.
"""

from .batches import ImportSummary
from .documents import documents_import
from .errors import ImportFileError
from .qrels import qrels_import
from .queries import queries_import

__all__ = ["ImportFileError", "ImportSummary", "documents_import", "qrels_import", "queries_import"]
