import io

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from PIL import Image

from accounts import tokens
from cases.models import Case, CaseMembership

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def groups(self, create, names, **kwargs):
        for name in names or []:
            self.groups.add(Group.objects.get_or_create(name=name)[0])


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    # From 1000 on: tests name their own cases 2026-CID-0042 and the like.
    reference = factory.Sequence(lambda n: f"2026-CID-{n + 1000:04d}")
    title = factory.Sequence(lambda n: f"Robbery {n}")
    created_by = factory.SubFactory(UserFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseMembership

    case = factory.SubFactory(CaseFactory)
    user = factory.SubFactory(UserFactory)
    role = CaseMembership.Role.FORENSIC_ARTIST


def api_token(user, name: str = "Test script", lifetime: int = 30) -> str:
    """A new API token for ``user``: its secret, as a client sends it."""
    return tokens.issue(user, name, lifetime)[1]


def png_bytes(width: int = 64, height: int = 48, color: str = "white") -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()
