from django.core.management.base import BaseCommand

from config.demo import BENCHMARK, demo_load


class Command(BaseCommand):
    help = "Load (or refresh) the Brightwater Labs demo: corpus, queries, a benchmark and logins."

    def handle(self, **options):
        summary = demo_load()
        self.stdout.write(
            f"Demo: {summary.documents} documents, {summary.queries} queries, benchmark {BENCHMARK!r} "
            f"with {summary.pairs} pairs ({summary.gold} gold), "
            f"{summary.judgments} judgments by the demo annotators."
        )
        self.stdout.write("Demo logins (kept in var/demo-logins.json):")
        for username, password in summary.logins.items():
            self.stdout.write(f"  {username:<11} {password}")
