"""The custody sweep's runs (cases.custody_sweep): progress, counts, and at most one running at a time."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0009_derived_by_workers"),
    ]

    operations = [
        migrations.CreateModel(
            name="CustodySweep",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[("running", "Running"), ("done", "Done"), ("interrupted", "Interrupted")],
                        default="running",
                        max_length=16,
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[("schedule", "Celery beat"), ("command", "manage.py sweep_custody")], max_length=16
                    ),
                ),
                ("started_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True, help_text="When its progress was last saved.")),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("files_total", models.PositiveIntegerField(default=0, help_text="Files stored when it started.")),
                ("files_checked", models.PositiveIntegerField(default=0)),
                ("bytes_checked", models.PositiveBigIntegerField(default=0)),
                (
                    "failures",
                    models.PositiveIntegerField(default=0, help_text="Files missing or altered (integrity_failed)."),
                ),
                ("last_error", models.TextField(blank=True, help_text="Why it was interrupted.")),
            ],
            options={
                "ordering": ["-started_at", "-pk"],
                "indexes": [models.Index(fields=["-started_at"], name="custody_sweep_started_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("status", "running")), fields=("status",), name="custody_sweep_one_running"
                    )
                ],
            },
        ),
    ]
