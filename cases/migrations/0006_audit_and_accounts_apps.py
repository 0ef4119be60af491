"""The audit trail moves to the ``audit`` app and the second factor to ``accounts`` (django-otp).

The audit tables stay where they are (``cases_auditevent``,
``cases_auditchainhead``, with their rows, triggers and chain): only
Django's record of which app owns them changes (``audit.0001_initial``
takes them over). The old authenticator table is dropped after
``accounts.0001`` has copied every confirmed secret to django-otp.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0005_totp_device"),
        ("accounts", "0001_second_factors_from_cases"),
    ]

    operations = [
        migrations.DeleteModel(name="TOTPDevice"),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent"), migrations.DeleteModel(name="AuditChainHead")],
            database_operations=[],
        ),
    ]
