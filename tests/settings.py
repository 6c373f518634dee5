"""Test settings: the real settings with fast hashing, in-process Celery and an isolated var/ folder (one per
pytest-xdist worker), media in a temporary folder of the test process."""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("FAPIAO_VAR_DIR", os.path.join(tempfile.gettempdir(), "fapiao-test-var"))
if os.environ.get("PYTEST_XDIST_WORKER"):  # each pytest-xdist worker has a var/ of its own (gw0/, gw1/, …)
    os.environ["FAPIAO_VAR_DIR"] = os.path.join(os.environ["FAPIAO_VAR_DIR"], os.environ["PYTEST_XDIST_WORKER"])

from invoicing.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = os.environ.get("TEST_CELERY_EAGER", "1") == "1"
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "memory://")
CELERY_RESULT_BACKEND = "cache+memory://" if CELERY_TASK_ALWAYS_EAGER else "django-db"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = os.path.join(FAPIAO_TEST_MEDIA := tempfile.mkdtemp(prefix="fapiao-media-"), "")  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Tests run inside a transaction of the default connection: job rows go through it too (rows the test made are
# invisible to a second connection). tests/importing/test_job_records.py uses the ``jobs`` alias on purpose.
JOBS_DATABASE = "default"
