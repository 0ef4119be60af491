"""Sending a job once the transaction that asked for it commits: one rule for every job of the app."""

from django.db import transaction


def send_after_commit(task, *args) -> None:
    """Send ``task`` once the current transaction commits.

    Without a broker the job runs in-process at once, on this connection, so
    the laptop default has the result as soon as the request answers.
    """
    if task.app.conf.task_always_eager:
        task.delay(*args)
    else:
        transaction.on_commit(lambda: task.delay(*args), robust=True)
