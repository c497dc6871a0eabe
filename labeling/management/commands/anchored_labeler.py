from django.core.management.base import BaseCommand, CommandError

from labeling.services.agreement import labeler_get
from labeling.services.anchored import AnchoredConfig, anchored_labeler_create


class Command(BaseCommand):
    help = ("Create (or update) an anchored labeler: a student's order within each query, on the grade scale a "
            "few teacher grades of that query's pairs set.")

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--student", required=True, help="The student labeler's name.")
        parser.add_argument("--teacher", required=True, help="The teacher labeler's name (any backend).")
        budget = parser.add_mutually_exclusive_group()
        budget.add_argument("--anchors-per-query", type=int, default=10)
        budget.add_argument("--anchor-share", type=float, help="Instead of a count: this share of each query's pairs.")
        parser.add_argument("--defer-share", type=float, default=0.0,
                            help="Also to the teacher: this share of each query's pairs, nearest a threshold.")
        parser.add_argument("--prior-weight", type=float, default=AnchoredConfig.prior_weight)

    def handle(self, **o):
        try:
            labeler = anchored_labeler_create(
                name=o["name"], student=labeler_get(name=o["student"]), teacher=labeler_get(name=o["teacher"]),
                anchors_per_query=None if o["anchor_share"] is not None else o["anchors_per_query"],
                anchor_share=o["anchor_share"], defer_share=o["defer_share"], prior_weight=o["prior_weight"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Anchored labeler {labeler.name}: {labeler.params}. It labels at scale once an evaluation "
                          f"promotes it (or with label --force).")
