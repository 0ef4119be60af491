"""The Celery app. Every setting is a ``CELERY_*`` entry in ``forensics.settings``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forensics.settings")

app = Celery("forensics")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Tasks live in the Django apps (``cases/tasks.py``).
app.autodiscover_tasks()
