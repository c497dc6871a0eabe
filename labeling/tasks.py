from celery import shared_task

from .models import ImportJob, LabelingJob
from .services.import_jobs import IMPORT_JOB_TASK, import_job_run
from .services.labeling_jobs import LABEL_JOB_TASK, labeling_job_run
from .workers import job_lease


@shared_task(name=LABEL_JOB_TASK, bind=True)
def label_job(self, job_id: int) -> None:
    with job_lease(LabelingJob, job_id, hostname=self.request.hostname) as owner:
        labeling_job_run(job_id=job_id, owner=owner)


@shared_task(name=IMPORT_JOB_TASK, bind=True)
def import_job(self, job_id: int) -> None:
    with job_lease(ImportJob, job_id, hostname=self.request.hostname) as owner:
        import_job_run(job_id=job_id, owner=owner)
