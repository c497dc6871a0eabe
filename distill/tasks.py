from celery import shared_task

from labeling.workers import owner_identity

from .runs import run_stage_execute
from .stages import SERVICES


@shared_task(name="distill.run_stage", bind=True)
def run_stage(self, run_id: int, stage: str) -> None:
    run_stage_execute(run_id=run_id, stage=stage, owner=owner_identity(self.request.hostname), services=SERVICES)
