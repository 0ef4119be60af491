"""How gunicorn serves the web tier: ``gunicorn -c python:forensics.gunicorn_config forensics.wsgi``.

The Dockerfile and ``benchmarks/web.py`` both use this file, so the benchmark measures what is
deployed. Command-line flags override it (the benchmark sets its own port and log file).
"""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Four processes of two threads for two cores. Threads (gunicorn's gthread worker) keep a process
# telling the arbiter it is alive while one of its requests streams a large case export for minutes;
# more threads per process contend for Python's interpreter lock, which cost the pages CPU (#13).
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# A process takes a connection only while one of its threads is free, and closes it after the answer:
# otherwise a busy process keeps accepting (and a client's kept-alive connection keeps returning to
# it) while another process idles, and requests wait behind a slow one.
worker_connections = threads
keepalive = 0
# For a stalled request, not a long download.
timeout = 120
accesslog = "-"
# The usual combined format and the time the request took in milliseconds (%(M)s), so the log says how
# long the server itself took, apart from the network and the client.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'


def post_worker_init(worker) -> None:
    """Freeze everything the worker has loaded (Django, the URL patterns, the templates' code) out of
    the garbage collector's reach: a full collection then walks only what requests made since, instead
    of pausing every thread of the worker for about 70 ms now and then (#13)."""
    gc.collect()
    gc.freeze()
