from django.core.management.base import BaseCommand, CommandError

from labeling.enqueue import QUEUE_UNREACHABLE
from labeling.management.scope import pair_scope
from labeling.models import LabelingJob
from labeling.selectors import set_aside_reasons
from labeling.services.agreement import labeler_get
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run
from labeling.workers import job_unsent


class Command(BaseCommand):
    help = "Label pairs with a labeler, in batches; a rerun skips what is labeled already."

    def add_arguments(self, parser):
        parser.add_argument("--labeler", required=True)
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--benchmark")
        where.add_argument("--corpus")
        parser.add_argument("--queries", help="A file of query ids, one per line (with --corpus).")
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--background", action="store_true", help="Enqueue for a worker instead of running here.")
        parser.add_argument("--force", action="store_true",
                            help="Label with a student that has not passed its promotion gate.")

    def handle(self, *, labeler, benchmark, corpus, queries, batch_size, background, force, **options):
        try:
            scope, description = pair_scope(benchmark=benchmark, corpus=corpus, queries=queries)
            job = labeling_job_create(labeler=labeler_get(name=labeler), scope=scope, description=description,
                                      batch_size=batch_size, enqueue=background, gated=not force)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if background:
            self.stdout.write(f"Labeling job {job.id} queued: {job.total} pairs ({description}).")
            if job_unsent(LabelingJob, job.id):
                self.stderr.write(QUEUE_UNREACHABLE)
            return

        def report(job):
            self.stdout.write(f"\r{job.done}/{job.total} pairs", ending="")
            self.stdout.flush()

        job = labeling_job_run(job_id=job.id, on_batch=report)
        rate = f"{job.pairs_per_second:.1f} pairs/s" if job.pairs_per_second else "nothing to label"
        self.stdout.write(
            f"\nLabeling job {job.id} {job.status}: {job.done} pairs newly labeled of {job.total}, {rate}, "
            f"{job.tokens_in} tokens in, {job.tokens_out} out, cost ≈ {job.cost:.4f}"
            + (f"; {job.set_aside} set aside ({', '.join(f'{r} {n}' for r, n in set_aside_reasons(job=job).items())})"
               if job.set_aside else "")
        )
