"""An installation made before the audit trail and the second factor left the ``cases`` app upgrades in place:
its events stay (no row copied), its chain still verifies, its users' authenticators still give valid codes."""

import base64
import datetime
import time
from binascii import unhexlify

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_otp.oath import TOTP

from accounts import otp
from audit import integrity, trail
from audit.models import AuditEvent

OLD_LAYOUT = [("cases", "0005_totp_device"), ("accounts", None)]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # base32, as an authenticator app was given it


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def code_at(step: int) -> str:
    totp = TOTP(base64.b32decode(SECRET), step=30, digits=6)
    totp.time = step * 30
    return f"{totp.token():06d}"


def populate_old_layout(apps) -> int:
    """A user with an authenticator, a case and a chain of events, written as the old layout wrote them."""
    User = apps.get_model("auth", "User")
    Case = apps.get_model("cases", "Case")
    AuditEvent = apps.get_model("cases", "AuditEvent")
    AuditChainHead = apps.get_model("cases", "AuditChainHead")
    TOTPDevice = apps.get_model("cases", "TOTPDevice")

    user = User.objects.create(username="veteran", password="!")
    case = Case.objects.create(reference="2025-OLD-0001", title="Before the upgrade", created_by=user)
    last_step = int(time.time()) // 30 - 1
    TOTPDevice.objects.create(user=user, secret=SECRET, confirmed_at=timezone.now(), last_step=last_step)
    head, _ = AuditChainHead.objects.get_or_create(pk=1, defaults={"hash": trail.GENESIS_HASH})
    for number in range(5):
        event = AuditEvent(
            sequence=head.sequence + 1,
            timestamp=datetime.datetime(2026, 1, 1, 12, number, tzinfo=datetime.UTC),
            user=user,
            username=user.username,
            role="case_lead",
            action="evidence_viewed",
            object_type="case",
            object_id=str(case.pk),
            case=case,
            outcome="success",
            ip="192.0.2.1",
            user_agent="old",
            request_id=f"old-{number}",
            details={"number": number},
            prev_hash=head.hash,
        )
        event.hash = trail.compute_hash(event)
        event.save(force_insert=True)
        head.sequence, head.hash = event.sequence, event.hash
        head.save(update_fields=["sequence", "hash"])
    return last_step


@pytest.mark.django_db(transaction=True)
def test_an_installation_at_the_old_layout_keeps_its_chain_and_second_factors():
    executor = migrate(OLD_LAYOUT)
    try:
        last_step = populate_old_layout(executor.loader.project_state([OLD_LAYOUT[0]]).apps)
    finally:
        migrate(executor.loader.graph.leaf_nodes())  # also when populating fails, so the database can be flushed

    report = integrity.verify_chain()
    assert report.intact and report.protected, report.summary()
    assert report.events == 5 == AuditEvent.objects.filter(username="veteran").count()
    user = User.objects.get(username="veteran")
    device = otp.authenticator_of(user)
    assert device is not None and unhexlify(device.key) == base64.b32decode(SECRET)
    assert otp.verify(user, code_at(last_step + 1)) == device  # the app's code now (or the step after the last used)
    assert otp.verify(user, code_at(last_step)) is None  # accepted before the upgrade: no replay
