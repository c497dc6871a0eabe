from celery import shared_task

from .labeling_jobs import labeling_job_run


@shared_task(name="labeling.label_job")
def label_job(job_id: int) -> None:
    labeling_job_run(job_id=job_id)
