"""How gunicorn serves the web tier (forensics/gunicorn_config.py), as the Dockerfile and the benchmark run it."""

import gc
from pathlib import Path

from gunicorn.app.base import Application

from forensics import gunicorn_config

ROOT = Path(__file__).resolve().parent.parent


class Loaded(Application):
    """gunicorn's own reading of a config file, as ``gunicorn -c python:forensics.gunicorn_config`` does."""

    def init(self, parser, opts, args):
        return {}

    def load_config(self):
        self.load_config_from_module_name_or_filename("python:forensics.gunicorn_config")

    def load(self):
        return None


def test_gunicorn_reads_the_workers_threads_and_the_timed_access_log():
    config = Loaded().cfg
    assert (config.workers, config.threads, config.timeout) == (4, 2, 120)
    # a process takes no more connections than it has threads, and keeps none open between requests
    assert (config.worker_connections, config.keepalive) == (config.threads, 0)
    assert config.worker_class_str == "gthread"
    assert config.access_log_format.endswith("%(M)sms")  # the server's own milliseconds in every line
    assert config.post_worker_init is gunicorn_config.post_worker_init


def test_a_worker_freezes_what_it_loaded_out_of_the_collectors_reach():
    try:
        gunicorn_config.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_image_runs_gunicorn_with_this_config():
    assert '"-c", "python:forensics.gunicorn_config"' in (ROOT / "Dockerfile").read_text()
