import logging
import os

from celery import Celery, bootsteps
from celery.signals import worker_ready

from labeling.workers import jobs_sweep, renew_seconds

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("assessor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)


class JobSweep(bootsteps.StartStopStep):
    """Every worker resends the jobs no worker holds (labeling.workers), every renew_seconds():
    a dead worker's job once its lease expires, and a job whose send failed once the broker is
    back, without waiting for a worker to start."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_ref = None

    def start(self, parent):
        self.timer_ref = parent.timer.call_repeatedly(renew_seconds(), jobs_sweep, priority=10)

    def stop(self, parent):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None


app.steps["worker"].add(JobSweep)


@worker_ready.connect
def _resume_jobs(sender, **kwargs):
    jobs_sweep()  # at once, not a sweep interval later
