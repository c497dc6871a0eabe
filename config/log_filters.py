"""Logging filters the settings attach."""

import logging


class ForbiddenOneLine(logging.Filter):
    """A 403 is an answer, not a fault: Django logs "Forbidden (Permission denied): PATH" with
    the PermissionDenied's traceback; keep the line, drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
