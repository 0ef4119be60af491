"""Audit action for the press sheet of a released composite (``press_sheet_made``).

Choices only: no change to the table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_custody_sweep_actions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
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
                    ("press_sheet_made", "Press sheet made"),
                    ("evidence_viewed", "Evidence viewed"),
                    ("evidence_downloaded", "Evidence downloaded"),
                    ("integrity_failed", "File integrity check failed"),
                    ("custody_sweep_started", "Custody sweep started"),
                    ("custody_sweep_finished", "Custody sweep finished"),
                    ("comparison_viewed", "Comparison viewed"),
                    ("case_exported", "Case exported"),
                    ("audit_viewed", "Audit log viewed"),
                    ("audit_exported", "Audit log exported"),
                    ("audit_verified", "Audit chain verified"),
                    ("access_denied", "Access denied"),
                    ("admin_action", "Admin action"),
                    ("second_factor_enrolled", "Second factor enrolled"),
                    ("api_token_created", "API token created"),
                    ("api_token_revoked", "API token revoked"),
                    ("api_token_used", "API token used"),
                    ("api_token_refused", "API token refused"),
                ],
                max_length=32,
            ),
        ),
    ]
