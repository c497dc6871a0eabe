import logging
import os

from celery import Celery
from celery.signals import celeryd_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("assessor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)


@celeryd_init.connect
def _set_boot_id(**kwargs):
    from labeling.workers import worker_boot

    worker_boot()  # in the main process, before the pool forks


@worker_ready.connect
def _resume_orphaned_jobs(sender, **kwargs):
    from labeling.workers import RESUMERS, owner_identity

    me = owner_identity(sender.hostname)
    for resume in RESUMERS:
        try:
            resume(me)
        except Exception:  # a failed resume must not stop the worker from serving
            log.exception("resuming jobs with %s failed", resume)
