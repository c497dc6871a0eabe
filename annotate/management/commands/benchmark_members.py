from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotate.models import Benchmark
from annotate.roles import ROLES, user_role_set
from annotate.services import membership_add, membership_remove


class Command(BaseCommand):
    help = "Add people to a benchmark (or take them off), optionally giving them a role."

    def add_arguments(self, parser):
        parser.add_argument("benchmark")
        parser.add_argument("usernames", nargs="+")
        parser.add_argument("--remove", action="store_true", help="Take them off the benchmark instead.")
        parser.add_argument("--role", choices=ROLES, help="Also give each this role (admin, reviewer, annotator).")

    def handle(self, *, benchmark, usernames, remove, role, **options):
        try:
            bench = Benchmark.objects.get(name=benchmark)
        except Benchmark.DoesNotExist:
            raise CommandError(f"no benchmark named {benchmark!r}") from None
        users = list(get_user_model().objects.filter(username__in=usernames))
        if missing := sorted(set(usernames) - {u.username for u in users}):
            raise CommandError(f"no such user: {', '.join(missing)}")
        if role:
            for user in users:
                user_role_set(user=user, role=role)
        if remove:
            self.stdout.write(f"{membership_remove(benchmark=bench, users=users)} taken off {bench.name}.")
        else:
            self.stdout.write(f"{membership_add(benchmark=bench, users=users)} added to {bench.name}.")
