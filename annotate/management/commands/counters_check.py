from django.core.management.base import BaseCommand, CommandError

from annotate.models import Benchmark
from annotate.services.counters import counters_check


class Command(BaseCommand):
    help = ("Report drift in every denormalised counter (benchmarks' item counts, items' judgment counts, "
            "members' judged counts, labeling jobs' done); a dry run unless --fix, which repairs it.")

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Write the recounted values.")
        parser.add_argument("--benchmark", help="Only this benchmark's counters (by name).")
        parser.add_argument("--limit", type=int, default=50, help="Drifted counters listed (all are counted).")

    def handle(self, *args, fix, benchmark, limit, **options):
        scope = None
        if benchmark is not None:
            scope = Benchmark.objects.filter(name=benchmark).first()
            if scope is None:
                raise CommandError(f"no benchmark with name {benchmark!r}")
        drift = counters_check(fix=fix, benchmark=scope)
        for d in drift[: max(limit, 0)]:
            self.stdout.write(str(d))
        if len(drift) > limit:
            self.stdout.write(f"... and {len(drift) - limit} more")
        if not drift:
            self.stdout.write("No counter has drifted.")
        elif fix:
            self.stdout.write(f"{len(drift)} counters repaired.")
        else:
            self.stdout.write(f"{len(drift)} counters have drifted; run with --fix to repair them.")
