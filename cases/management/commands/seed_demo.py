"""``python manage.py seed_demo``: demo users for every role and one demo case.

Idempotent: users and the case are created when missing and left alone
otherwise (a changed password stays changed). For laptops and demos only.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from cases import audit
from cases.access import GlobalRole
from cases.models import Case, CaseMembership

Role = CaseMembership.Role

# user name, password, global role, role on the demo case, superuser
DEMO_USERS = [
    ("artist", "charcoal-lines-7", GlobalRole.FORENSIC_ARTIST, Role.FORENSIC_ARTIST, False),
    ("investigator", "case-file-ledger-3", GlobalRole.INVESTIGATOR, Role.INVESTIGATOR, False),
    ("lead", "lead-the-case-9", GlobalRole.INVESTIGATOR, Role.CASE_LEAD, False),
    ("auditor", "chain-of-custody-5", GlobalRole.AUDITOR, None, False),
    ("admin", "admin-console-2", None, None, True),
]
DEMO_CASE_REFERENCE = "DEMO-0001"


class Command(BaseCommand):
    help = "Create demo users for each role and a demo case (idempotent), and print the logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Only seed a new database (one without any user).")

    def handle(self, *args, if_empty: bool = False, **options) -> None:
        User = get_user_model()
        if if_empty and User.objects.exists() and not User.objects.filter(username="lead").exists():
            self.stdout.write("The database already has users; no demo data added.")
            return
        with transaction.atomic():
            users = {
                name: self._user(name, password, group, superuser) for name, password, group, _, superuser in DEMO_USERS
            }
            case = self._case(users["lead"])
            for name, _, _, role, _ in DEMO_USERS:
                if role is not None:
                    CaseMembership.objects.get_or_create(
                        case=case, user=users[name], defaults={"role": role, "granted_by": users["lead"]}
                    )
        self.stdout.write(f"Demo case {case.reference}: {case.title}")
        self.stdout.write("Demo logins (user name, password, global role; role on the demo case):")
        for name, password, group, role, superuser in DEMO_USERS:
            what = "Administrator (superuser)" if superuser else str(group)
            if role is not None:
                what += f"; {role.label.lower()} on {case.reference}"
            self.stdout.write(f"  {name:<13} {password:<20} {what}")

    def _user(self, name: str, password: str, group: str | None, superuser: bool):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=name, defaults={"is_superuser": superuser, "is_staff": superuser, "email": f"{name}@example.org"}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
            if group is not None:
                user.groups.add(Group.objects.get(name=group))
        return user

    def _case(self, lead) -> Case:
        case = Case.objects.filter(reference=DEMO_CASE_REFERENCE).first()
        if case is not None:
            return case
        case = Case.objects.create(
            reference=DEMO_CASE_REFERENCE,
            title="Demo: street robbery, Market Square",
            description="A demonstration case. The witness saw the suspect for about ten seconds at dusk.",
            created_by=lead,
        )
        audit.record(
            audit.Action.CASE_CREATED, user=lead, obj=case, details={"reference": case.reference, "seeded": True}
        )
        return case
