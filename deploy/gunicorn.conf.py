"""gunicorn settings for the web process: ``gunicorn -c deploy/gunicorn.conf.py invoicing.wsgi``.

Every value can be overridden by an environment variable (the names below) or on the command line. The process keeps
nothing on local disk that another web process would need: sessions, jobs and files live in PostgreSQL, Redis and
the file storage (docs/operations.md, "Deployment").
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(min(2 * multiprocessing.cpu_count() + 1, 9))))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread"
# Uploads and exports stream through the web process: a request may take longer than gunicorn's default 30 s.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# On SIGTERM (a deploy, a scale-in) requests in flight get this long to finish before their worker is stopped.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# A worker is replaced after this many requests (plus jitter): memory held by large imports is given back.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))
# Behind a load balancer that sets X-Forwarded-For / -Proto; list its addresses (comma-separated) or "*".
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Temporary files of workers in memory, not on a disk that may be slow or read-only in a container.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm" if os.path.isdir("/dev/shm") else None)
