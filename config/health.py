"""What /health reports: the database, the broker and the workers that answer a ping."""

from typing import Any

from django.db import connection

from .celery import app


def database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any failure is the answer, not an error
        return {"ok": False, "error": str(exc)}


def broker_status() -> dict:
    transport = app.conf.broker_url.split("://", 1)[0]
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "transport": transport}
    except Exception as exc:
        return {"ok": False, "transport": transport, "error": str(exc)}


def worker_status(timeout: float = 1.0) -> dict:
    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception as exc:
        return {"ok": False, "workers": [], "error": str(exc)}
    workers = sorted(name for reply in replies for name in reply)
    return {"ok": bool(workers), "workers": workers}


def health_report() -> dict:
    report: dict[str, Any] = {"database": database_status(), "broker": broker_status()}
    report["worker"] = worker_status() if report["broker"]["ok"] else {"ok": False, "workers": []}
    report["ok"] = all(part["ok"] for part in report.values())
    return report
