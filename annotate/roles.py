"""The three roles, as Django groups with their permissions, ensured after every migrate.

- annotator: grades the benchmarks they belong to, sees only their own grades.
- reviewer: grades and sees every benchmark, its agreement figures, and adjudicates.
- admin: everything in Assessor's apps, users included (and the Django admin: is_staff).
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction

ADMIN, REVIEWER, ANNOTATOR = "admin", "reviewer", "annotator"
ROLES = (ADMIN, REVIEWER, ANNOTATOR)  # highest first

ANNOTATOR_PERMISSIONS = ["annotate.grade_benchmark"]
REVIEWER_PERMISSIONS = [
    *ANNOTATOR_PERMISSIONS,
    "annotate.view_all_benchmarks",
    "annotate.view_agreement",
    "annotate.review_pair",
    "annotate.view_benchmark",
    "annotate.view_benchmarkitem",
    "labeling.view_judgment",
    "labeling.view_modellabel",
    "labeling.view_pair",
    "labeling.view_query",
    "labeling.view_document",
    "labeling.view_labeler",
]
# Every permission of these apps (add, change, delete, view and the custom ones), plus users.
ADMIN_APPS = ("annotate", "labeling", "distill")
ADMIN_EXTRA = ["auth.view_user", "auth.add_user", "auth.change_user", "auth.view_group"]


def _permissions(names: list[str]) -> list[Permission]:
    wanted = {tuple(name.split(".", 1)) for name in names}
    found = [
        p for p in Permission.objects.filter(codename__in={c for _, c in wanted}).select_related("content_type")
        if (p.content_type.app_label, p.codename) in wanted
    ]
    missing = wanted - {(p.content_type.app_label, p.codename) for p in found}
    if missing:
        raise LookupError(f"permissions not found: {sorted('.'.join(m) for m in missing)}")
    return found


def roles_ensure(*, using: str = "default") -> dict[str, Group]:
    """Create or update the groups; idempotent. Permissions a role no longer lists are removed
    from its group, so this file is the single source of truth."""
    for label in ("auth", "labeling", "annotate", "distill"):
        if global_apps.is_installed(label):
            create_permissions(global_apps.get_app_config(label), verbosity=0, using=using)
    admin_permissions = list(
        Permission.objects.filter(content_type__app_label__in=ADMIN_APPS)
    ) + _permissions(ADMIN_EXTRA)
    wanted = {
        ANNOTATOR: _permissions(ANNOTATOR_PERMISSIONS),
        REVIEWER: _permissions(REVIEWER_PERMISSIONS),
        ADMIN: admin_permissions,
    }
    groups = {}
    with transaction.atomic(using=using):
        for role, permissions in wanted.items():
            group, _ = Group.objects.using(using).get_or_create(name=role)
            group.permissions.set(permissions)
            groups[role] = group
    return groups


def user_role_set(*, user, role: str) -> None:
    """Give a user exactly one of the roles (the admin role also opens the Django admin)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    groups = roles_ensure()
    with transaction.atomic():
        user.groups.remove(*[g for name, g in groups.items() if name != role])
        user.groups.add(groups[role])
        if role == ADMIN and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])


def roles_grantable(*, user) -> list[str]:
    """The roles `user` may give others (in the Django admin): a superuser any, anyone else
    only their own role and those below it; superuser and staff status stay a superuser's."""
    if user.is_active and user.is_superuser:
        return list(ROLES)
    held = set(user.groups.values_list("name", flat=True)) if user.is_active else set()
    highest = next((i for i, role in enumerate(ROLES) if role in held), len(ROLES))
    return list(ROLES[highest:])


def on_post_migrate(sender, using="default", **kwargs) -> None:
    roles_ensure(using=using)
