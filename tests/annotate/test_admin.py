"""The Django admin's user pages for an admin-role user who is not a superuser: no way up."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER, roles_grantable, user_role_set
from tests.factories import UserFactory


def change_form(user, **changes) -> dict:
    """The user change form as the admin page posts it, with `changes` on top."""
    data = {
        "username": user.username, "first_name": "", "last_name": "", "email": "", "is_active": "on",
        "date_joined_0": "2026-01-05", "date_joined_1": "09:00:00", "initial-date_joined_0": "2026-01-05",
        "initial-date_joined_1": "09:00:00", "groups": [str(g.pk) for g in user.groups.all()],
    }
    data.update(changes)
    return data


@pytest.fixture
def boss(client):
    user = UserFactory(username="boss")
    user_role_set(user=user, role=ADMIN)  # staff, the admin role's permissions, not a superuser
    client.force_login(user)
    return user


@pytest.mark.django_db
def test_an_admin_who_is_not_a_superuser_cannot_make_itself_superuser(client, boss):
    path = f"/admin/auth/user/{boss.pk}/change/"
    assert client.get(path).status_code == 200
    permission = Permission.objects.get(codename="delete_user")
    response = client.post(path, change_form(boss, is_superuser="on", is_staff="on",
                                              user_permissions=[str(permission.pk)], first_name="Bo"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    boss.refresh_from_db()
    assert boss.first_name == "Bo"  # the rest of the form was saved
    assert not boss.is_superuser and not boss.user_permissions.exists()
    assert not get_user_model().objects.get(pk=boss.pk).has_perm("auth.delete_user")


@pytest.mark.django_db
def test_an_admin_grants_only_roles_up_to_its_own_and_never_staff(client, boss):
    ops = Group.objects.create(name="ops")
    ops.permissions.add(Permission.objects.get(codename="delete_user"))
    other = UserFactory(username="someone")
    path = f"/admin/auth/user/{other.pk}/change/"
    response = client.post(path, change_form(other, groups=[str(ops.pk)], is_staff="on"))
    assert response.status_code == 200 and "groups" in response.context["adminform"].form.errors
    reviewer = Group.objects.get(name=REVIEWER)
    response = client.post(path, change_form(other, groups=[str(reviewer.pk)], is_staff="on"))
    assert response.status_code == 302
    other.refresh_from_db()
    assert list(other.groups.values_list("name", flat=True)) == [REVIEWER] and not other.is_staff


@pytest.mark.django_db
def test_an_admin_cannot_change_a_superuser_or_its_password(client, boss):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    root.set_password("root-secret")
    root.save()
    assert client.post(f"/admin/auth/user/{root.pk}/password/",
                       {"password1": "taken-over-1", "password2": "taken-over-1"}).status_code == 403
    response = client.post(f"/admin/auth/user/{root.pk}/change/", change_form(root, is_active=""))
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.check_password("root-secret") and root.is_active


@pytest.mark.django_db
def test_a_superuser_still_grants_anything(admin_client, admin_user):
    other = UserFactory(username="promoted")
    response = admin_client.post(f"/admin/auth/user/{other.pk}/change/",
                                 change_form(other, is_superuser="on", is_staff="on"))
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.is_superuser and other.is_staff


@pytest.mark.django_db
def test_roles_grantable_is_a_role_and_those_below_it():
    users = {}
    for role in (ADMIN, REVIEWER, ANNOTATOR):
        users[role] = UserFactory(username=f"u-{role}")
        user_role_set(user=users[role], role=role)
    assert roles_grantable(user=users[ADMIN]) == [ADMIN, REVIEWER, ANNOTATOR]
    assert roles_grantable(user=users[REVIEWER]) == [REVIEWER, ANNOTATOR]
    assert roles_grantable(user=users[ANNOTATOR]) == [ANNOTATOR]
    assert roles_grantable(user=UserFactory(username="nobody")) == []
