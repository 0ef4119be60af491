"""The audit trail's models, taken over from the ``cases`` app without touching the database.

The tables (``cases_auditevent``, ``cases_auditchainhead``), their rows,
indexes and append-only triggers were created by ``cases.0001``-``0005``
and stay as they are: this migration only records that the ``audit`` app
owns them, and renames their content types so permissions follow.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def rename_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="cases", model__in=["auditevent", "auditchainhead"]).update(app_label="audit")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("cases", "0006_audit_and_accounts_apps"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditChainHead",
                    fields=[
                        ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                        ("sequence", models.PositiveBigIntegerField(default=0)),
                        ("hash", models.CharField(max_length=64)),
                    ],
                    options={
                        "db_table": "cases_auditchainhead",
                        "ordering": ["id"],
                        "constraints": [
                            models.CheckConstraint(condition=models.Q(("id", 1)), name="audit_chain_head_single_row")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("sequence", models.PositiveBigIntegerField(unique=True)),
                        ("timestamp", models.DateTimeField()),
                        (
                            "username",
                            models.CharField(
                                blank=True, help_text="The user name at the time of the event.", max_length=150
                            ),
                        ),
                        ("role", models.CharField(blank=True, max_length=100)),
                        (
                            "action",
                            models.CharField(
                                choices=[
                                    ("login_succeeded", "Login succeeded"),
                                    ("login_failed", "Login failed"),
                                    ("logout", "Logout"),
                                    ("password_changed", "Password changed"),
                                    ("case_created", "Case created"),
                                    ("case_updated", "Case updated"),
                                    ("case_closed", "Case closed"),
                                    ("case_reopened", "Case reopened"),
                                    ("case_archived", "Case archived"),
                                    ("membership_granted", "Membership granted"),
                                    ("membership_changed", "Membership role changed"),
                                    ("membership_revoked", "Membership revoked"),
                                    ("sketch_uploaded", "Sketch uploaded"),
                                    ("candidate_added", "Candidate photo added"),
                                    ("upload_rejected", "Upload rejected"),
                                    ("composite_requested", "Composite requested"),
                                    ("composite_started", "Composite started"),
                                    ("composite_done", "Composite done"),
                                    ("composite_failed", "Composite failed"),
                                    ("composite_released", "Composite released"),
                                    ("evidence_viewed", "Evidence viewed"),
                                    ("evidence_downloaded", "Evidence downloaded"),
                                    ("integrity_failed", "File integrity check failed"),
                                    ("comparison_viewed", "Comparison viewed"),
                                    ("case_exported", "Case exported"),
                                    ("audit_viewed", "Audit log viewed"),
                                    ("audit_exported", "Audit log exported"),
                                    ("audit_verified", "Audit chain verified"),
                                    ("access_denied", "Access denied"),
                                    ("admin_action", "Admin action"),
                                    ("second_factor_enrolled", "Second factor enrolled"),
                                ],
                                max_length=32,
                            ),
                        ),
                        ("object_type", models.CharField(blank=True, max_length=64)),
                        ("object_id", models.CharField(blank=True, max_length=64)),
                        (
                            "outcome",
                            models.CharField(
                                choices=[("success", "Success"), ("denied", "Denied"), ("failed", "Failed")],
                                default="success",
                                max_length=16,
                            ),
                        ),
                        ("ip", models.GenericIPAddressField(blank=True, null=True)),
                        ("user_agent", models.CharField(blank=True, max_length=512)),
                        ("request_id", models.CharField(blank=True, max_length=64)),
                        ("details", models.JSONField(blank=True, default=dict)),
                        ("prev_hash", models.CharField(max_length=64)),
                        ("hash", models.CharField(max_length=64, unique=True)),
                        (
                            "case",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="audit_events",
                                to="cases.case",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "cases_auditevent",
                        "ordering": ["sequence"],
                        "indexes": [
                            models.Index(fields=["timestamp"], name="audit_timestamp_idx"),
                            models.Index(fields=["case", "timestamp"], name="audit_case_timestamp_idx"),
                            models.Index(fields=["user", "timestamp"], name="audit_user_timestamp_idx"),
                            models.Index(fields=["action", "timestamp"], name="audit_action_timestamp_idx"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(rename_content_types, migrations.RunPython.noop),
    ]
