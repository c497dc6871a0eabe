from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotate.roles import ROLES, user_role_set
from api.services.tokens import token_create


class Command(BaseCommand):
    help = "Create an API token for a user (made, with --role, if missing) and print it: it is shown only now."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True)
        parser.add_argument("--name", required=True, help="What the token is for.")
        parser.add_argument("--role", choices=ROLES, help="Give the user this role (creating the user if missing).")

    def handle(self, *args, user, name, role, **options):
        User = get_user_model()
        if role:
            person, _ = User.objects.get_or_create(username=user)
            user_role_set(user=person, role=role)
        else:
            person = User.objects.filter(username=user).first()
            if person is None:
                raise CommandError(f"no user named {user!r} (give --role to create one)")
        try:
            self.stdout.write(token_create(user=person, name=name).secret)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
