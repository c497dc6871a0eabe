from celery import shared_task

from labeling.workers import job_lease

from .models import BenchmarkBuild, Run
from .services.benchmark_builds import BENCHMARK_BUILD_TASK, benchmark_build_run
from .services.runs import RUN_STAGE_TASK, run_stage_execute
from .services.stages import SERVICES


@shared_task(name=RUN_STAGE_TASK, bind=True)
def run_stage(self, run_id: int, stage: str) -> None:
    with job_lease(Run, run_id, hostname=self.request.hostname) as owner:
        run_stage_execute(run_id=run_id, stage=stage, owner=owner, services=SERVICES)


@shared_task(name=BENCHMARK_BUILD_TASK, bind=True)
def benchmark_build(self, build_id: int) -> None:
    with job_lease(BenchmarkBuild, build_id, hostname=self.request.hostname) as owner:
        benchmark_build_run(build_id=build_id, owner=owner)
