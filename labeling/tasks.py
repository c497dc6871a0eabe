from celery import shared_task

from .labeling_jobs import labeling_job_run
from .workers import owner_identity


@shared_task(name="labeling.label_job", bind=True)
def label_job(self, job_id: int) -> None:
    labeling_job_run(job_id=job_id, owner=owner_identity(self.request.hostname))
