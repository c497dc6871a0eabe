import inspect

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Benchmark
from distill.config import DEFAULTS, config_from_choices
from distill.models import Run
from distill.services.runs import run_launch, run_stage_execute
from distill.services.stages import SERVICES
from labeling.enqueue import QUEUE_UNREACHABLE
from labeling.models import Corpus
from labeling.workers import job_unsent


class Command(BaseCommand):
    help = "Launch a distillation run: synthesize, mine, teach, train, evaluate."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--corpus", required=True)
        parser.add_argument("--benchmark")
        parser.add_argument("--generator", default=DEFAULTS["generator"])
        parser.add_argument("--teacher", default=DEFAULTS["teacher"])
        parser.add_argument("--student-base", default=DEFAULTS["student_base"])
        parser.add_argument("--seed-documents", type=int, default=DEFAULTS["synthesize"]["seed_documents"])
        parser.add_argument("--queries-per-document", type=int, default=DEFAULTS["synthesize"]["queries_per_document"])
        parser.add_argument("--bm25-negatives", type=int, default=DEFAULTS["mine"]["bm25_negatives"])
        parser.add_argument("--random-negatives", type=int, default=DEFAULTS["mine"]["random_negatives"])
        parser.add_argument("--epochs", type=int, default=DEFAULTS["train"]["epochs"])
        parser.add_argument("--learning-rate", type=float, default=DEFAULTS["train"]["learning_rate"])
        parser.add_argument("--batch-size", type=int, default=DEFAULTS["train"]["batch_size"])
        parser.add_argument("--max-length", type=int, default=DEFAULTS["train"]["max_length"])
        parser.add_argument("--gate-margin", type=float, default=DEFAULTS["evaluate"]["margin"],
                            help="The promotion gate: not worse than the teacher by more than this.")
        parser.add_argument("--foreground", action="store_true", help="Run the stages here instead of on the workers.")

    def handle(self, **o):
        try:
            corpus = Corpus.objects.get(name=o["corpus"])
            benchmark = Benchmark.objects.get(name=o["benchmark"]) if o["benchmark"] else None
        except (Corpus.DoesNotExist, Benchmark.DoesNotExist) as exc:
            raise CommandError(str(exc)) from None
        config = config_from_choices(**{key: o[key] for key in inspect.signature(config_from_choices).parameters})
        run = run_launch(name=o["name"], corpus=corpus, benchmark=benchmark, config=config, enqueue=not o["foreground"])
        if not o["foreground"]:
            self.stdout.write(f"Run {run.id} queued; follow it at /runs/{run.id}/")
            if job_unsent(Run, run.id):
                self.stderr.write(QUEUE_UNREACHABLE)
            return
        while run.status in (Run.Status.QUEUED, Run.Status.RUNNING):
            self.stdout.write(f"{run.stage} ...")
            run_stage_execute(run_id=run.id, stage=run.stage, owner="", services=SERVICES, chain=False)
            run.refresh_from_db()
        self.stdout.write(f"Run {run.id} {run.status}{': ' + run.error if run.error else ''}")
        if run.status != Run.Status.SUCCEEDED:
            raise CommandError(f"run {run.id} {run.status}")
