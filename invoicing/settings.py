"""Fapiao Desk settings: one module, read from environment variables.

Defaults need no server: SQLite and a file-based Celery broker under ``var/``. Production sets
``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL`` (Redis) and ``SECRET_KEY``. See docs/operations.md.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from invoicing.env import env_bool, env_choice, env_int, env_list, env_str

# Django's generic classes take type arguments at run time as they do for mypy (``admin.ModelAdmin[Taxpayer]``,
# ``QuerySet[Event]``). django-stubs-ext is installed with django-fsm-2.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("FAPIAO_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (or set DEBUG=1 for development)")
    # Development only: a key generated once and kept under var/, never committed.
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()


def _field_encryption_keys() -> list[str]:
    """Fernet keys for encrypted fields (channel secrets, webhook and HMAC secrets), newest first.

    The first key encrypts, every key decrypts (rotation: put the new key first, run ``reencrypt_fields``, then drop
    the old one). Production must set ``FIELD_ENCRYPTION_KEYS`` (system check fapiao.E010); development derives a key
    from SECRET_KEY.
    """
    keys = env_list("FIELD_ENCRYPTION_KEYS")
    if keys or not DEBUG:
        return keys
    digest = hashlib.sha256(b"fapiao-field-encryption-dev:" + SECRET_KEY.encode("utf-8")).digest()
    return [base64.urlsafe_b64encode(digest).decode("ascii")]


FIELD_ENCRYPTION_KEYS = _field_encryption_keys()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "invoicing.admin_site.FapiaoAdminConfig",  # django.contrib.admin with the lookup guard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_fsm",
    "rest_framework",
    "drf_spectacular",
    "django_filters",
    "import_export",
    "django_celery_results",
    "django_celery_beat",
    "invoicing",
    "issuing",
    "delivery",
    "sandbox",  # before receiving: seed_demo seeds the platform's invoices before receiving's first download
    "receiving",
    "deduction",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the web process (compressed, cached forever once hashed): no separate file server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A finished or failed background job of the user: one message on their next admin page.
    "invoicing.notifications.JobNoticeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "invoicing.urls"
WSGI_APPLICATION = "invoicing.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names another (postgres://user@host:5432/name).
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'fapiao.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the worker share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            # BEGIN IMMEDIATE: a writer waits for the lock (up to the timeout) instead of failing with "database is
            # locked" when it upgrades a read transaction while the worker or beat writes.
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
        }
    )
# Job records (invoicing.models.Job) are written on a connection of their own to the same database, in autocommit:
# an import writes all its rows in one transaction (all or nothing), and its progress, written meanwhile, must be
# visible to the web processes at once and survive that transaction's rollback. SQLite allows one writer at a time,
# so there the records share the default connection (progress then shows when the import ends).
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["jobs"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
JOBS_DATABASE = "jobs" if "jobs" in DATABASES else "default"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # collectstatic writes here; WhiteNoise serves it
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Stored files (uploads, error workbooks, exports, invoice files, received carriers, print jobs) go through Django's
# storage API only. FAPIAO_S3_BUCKET puts them in a private S3 bucket (any S3-compatible server with
# FAPIAO_S3_ENDPOINT_URL), so web and worker hosts share nothing on disk; a file handed out is a signed URL valid for
# FAPIAO_S3_URL_SECONDS, given only after the view's permission and entity checks (invoicing/files.py).
S3_BUCKET = env_str("FAPIAO_S3_BUCKET")
S3_URL_SECONDS = env_int("FAPIAO_S3_URL_SECONDS", 300)


def _default_storage() -> dict[str, object]:
    if not S3_BUCKET:
        return {"BACKEND": env_str("DEFAULT_FILE_STORAGE", "django.core.files.storage.FileSystemStorage")}
    options: dict[str, object] = {
        "bucket_name": S3_BUCKET,
        "default_acl": "private",
        "querystring_auth": True,
        "querystring_expire": S3_URL_SECONDS,
        "file_overwrite": False,  # as on a file system: a second file of the same name gets a new name
        "location": env_str("FAPIAO_S3_PREFIX", ""),
        "signature_version": "s3v4",
        "addressing_style": env_choice("FAPIAO_S3_ADDRESSING_STYLE", ("auto", "path", "virtual"), "auto"),
    }
    for option, variable in (("endpoint_url", "FAPIAO_S3_ENDPOINT_URL"), ("region_name", "FAPIAO_S3_REGION"),
                             ("access_key", "FAPIAO_S3_ACCESS_KEY_ID"),
                             ("secret_key", "FAPIAO_S3_SECRET_ACCESS_KEY")):
        value = env_str(variable)
        if value:
            options[option] = value  # otherwise boto3's own chain (AWS_* variables, instance role)
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


def _jobs_storage() -> dict[str, object]:
    """The files of import and export jobs (invoicing/intake/jobs.py): a job's file saved again (a task delivered again
    after a worker died) replaces the first, under the name its job row keeps."""
    default = _default_storage()
    if S3_BUCKET:
        return {**default, "OPTIONS": {**default["OPTIONS"], "file_overwrite": True}}  # type: ignore[dict-item]
    return {"BACKEND": "invoicing.storage.ReplacingFileSystemStorage"}


STORAGES = {
    "default": _default_storage(),
    "jobs": _jobs_storage(),
    # Hashed names and compressed copies made by collectstatic; development serves the source files as they are.
    "staticfiles": {"BACKEND": env_str(
        "STATICFILES_BACKEND",
        "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage",
    )},
}

# Money: every amount field uses these; amounts are Decimal rounded ROUND_HALF_UP to the fen.
MONEY_MAX_DIGITS = 18
MONEY_DECIMAL_PLACES = 2

# E-mail
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "outbox"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "fapiao@localhost")

# Celery: a real worker on a file-based broker by default (no server needed); Redis in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "celery-broker"
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # broadcasts (remote control); default: ./control
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "django-db")

# Webhooks may not point at loopback, private or link-local addresses (the server would make requests into its own
# network on a customer's behalf); allow them only for a receiver on the same network, or tests.
WEBHOOK_ALLOW_PRIVATE_HOSTS = env_bool("WEBHOOK_ALLOW_PRIVATE_HOSTS", False)
# API Idempotency-Key records are kept this long (a replay after that is a new request), then purged hourly.
API_IDEMPOTENCY_KEEP_HOURS = env_int("API_IDEMPOTENCY_KEEP_HOURS", 24)
# An API call that reaches the tax platform claims its Idempotency-Key first; a claim still in progress after this
# many seconds is taken to be from a process that died, and the next request with the key runs it again.
API_IDEMPOTENCY_STALE_SECONDS = env_int("API_IDEMPOTENCY_STALE_SECONDS", 600)
# HMAC-signed API requests must carry X-Nonce (replay protection); False also accepts the older signature without it.
API_HMAC_REQUIRE_NONCE = env_bool("API_HMAC_REQUIRE_NONCE", True)
# POST /api/v1/invoices/{id}/deliveries: at most this many e-mails per invoice, and per client, in any 24 hours.
API_DELIVERIES_PER_INVOICE_PER_DAY = env_int("API_DELIVERIES_PER_INVOICE_PER_DAY", 5)
API_DELIVERIES_PER_CLIENT_PER_DAY = env_int("API_DELIVERIES_PER_CLIENT_PER_DAY", 200)
# Import/export job files (uploads, error workbooks, exports) are deleted this many days after their last change.
JOB_FILES_KEEP_DAYS = env_int("JOB_FILES_KEEP_DAYS", 7)
# Invoice files (PDF/OFD/XML): beat's sweep (delivery.requeue_stale_files) runs every DELIVERY_RENDER_SWEEP_SECONDS and
# queues again the files left pending longer than DELIVERY_RENDER_PENDING_AFTER_SECONDS (a render message that was
# never sent: the process that committed the invoice died before its on-commit callbacks ran).
DELIVERY_RENDER_SWEEP_SECONDS = env_int("DELIVERY_RENDER_SWEEP_SECONDS", 300)
DELIVERY_RENDER_PENDING_AFTER_SECONDS = env_int("DELIVERY_RENDER_PENDING_AFTER_SECONDS", 300)
# Receiving (用票): one upload (many files, or a ZIP of them) holds at most this many files and bytes; a single
# file above RECEIVING_MAX_FILE_BYTES is refused without being read (the kernel readers refuse 20 MB and more).
RECEIVING_MAX_UPLOAD_FILES = env_int("RECEIVING_MAX_UPLOAD_FILES", 500)
RECEIVING_MAX_UPLOAD_BYTES = env_int("RECEIVING_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
RECEIVING_MAX_FILE_BYTES = env_int("RECEIVING_MAX_FILE_BYTES", 20 * 1024 * 1024)
# Staged upload files are purged hourly once their batch is finished, or when a batch not being processed is older.
RECEIVING_STAGING_MAX_AGE_HOURS = env_int("RECEIVING_STAGING_MAX_AGE_HOURS", 24)
# POST /api/v1/received-invoices/collect is read while the client waits: at most this many items (files once ZIPs
# are expanded, QR payloads or entered invoices) and bytes per request; larger batches go through the upload page.
RECEIVING_API_MAX_ITEMS = env_int("RECEIVING_API_MAX_ITEMS", 20)
RECEIVING_API_MAX_BYTES = env_int("RECEIVING_API_MAX_BYTES", 20 * 1024 * 1024)
# Mailboxes (receiving/mailbox): links in e-mails are fetched with a deadline in seconds; internal addresses are refused
# (invoicing/netguard.py) unless RECEIVING_LINK_ALLOW_PRIVATE_HOSTS (tests, a provider on the same network).
RECEIVING_LINK_TIMEOUT = env_int("RECEIVING_LINK_TIMEOUT", 30)
RECEIVING_LINK_ALLOW_PRIVATE_HOSTS = env_bool("RECEIVING_LINK_ALLOW_PRIVATE_HOSTS", False)
RECEIVING_IMAP_TIMEOUT = env_int("RECEIVING_IMAP_TIMEOUT", 30)
# The admin home's card of applications waiting for review counts those waiting longer than this (hours).
DASHBOARD_REVIEW_WAIT_HOURS = env_int("DASHBOARD_REVIEW_WAIT_HOURS", 4)
# Deduction (抵扣, domain.md §14.4–§14.5). Rules the domain notes mark UNVERIFIED are settings: the filing deadline's
# day of the next month (moved past weekends and the holidays kept in the admin), whether a confirmation may be undone
# before the period is filed, and whether a partially red-flushed invoice may be selected for its unflushed part.
DEDUCTION_FILING_DAY = env_int("DEDUCTION_FILING_DAY", 15)
DEDUCTION_ALLOW_CONFIRM_UNDO = env_bool("DEDUCTION_ALLOW_CONFIRM_UNDO", True)
DEDUCTION_ALLOW_PARTIAL_RED = env_bool("DEDUCTION_ALLOW_PARTIAL_RED", True)
# The upload form sends every file as its own part: Django's default of 100 parts would refuse a full batch.
DATA_UPLOAD_MAX_NUMBER_FILES = RECEIVING_MAX_UPLOAD_FILES + 10
# Input rules shared by the API, the import and the admin (invoicing/validators.py). A business date may be at most
# this many days after today (upstream clocks and time zones a little ahead) and at most this many days old.
BUSINESS_DATE_MAX_FUTURE_DAYS = env_int("BUSINESS_DATE_MAX_FUTURE_DAYS", 1)
BUSINESS_DATE_MAX_AGE_DAYS = env_int("BUSINESS_DATE_MAX_AGE_DAYS", 3650)
# Lines per billing document: 2000 is the most lines one 数电 invoice holds (domain.md §5.3).
BILLING_DOCUMENT_MAX_LINES = env_int("BILLING_DOCUMENT_MAX_LINES", 2000)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another worker
# Where tasks sent without a queue go, those sent by tasks included (a drain arming the next, retries after a batch).
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Graceful shutdown (SIGTERM): a worker stops taking messages and lets its running tasks finish for up to
# CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT seconds, then gives back (requeues) the messages of those still running; as
# tasks are acknowledged late, a worker killed outright leaves them for another worker too (on Redis after the
# visibility timeout). Every task is idempotent, so a task run twice does its work once.
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = float(env_int("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", 60))
CELERY_WORKER_ENABLE_SOFT_SHUTDOWN_ON_IDLE = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged message (its worker died) is delivered again after this many seconds: longer than the
    # longest task, or that task would run twice at once.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
# A task running longer than this is stopped (soft: an exception the task may handle; hard: the process is killed).
# 0 means no limit; imports and exports of the largest allowed files take minutes, not hours.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 0) or None
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 0) or None
CELERY_TIMEZONE = TIME_ZONE
# One beat sends, however many are started (invoicing/beat.py: a PostgreSQL advisory lock).
CELERY_BEAT_SCHEDULER = "invoicing.beat:SingleBeatScheduler"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if env_str("CACHE_URL").startswith("redis")
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": env_str("CACHE_URL", "fapiao-desk"),
    }
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fapiao Desk API",
    "DESCRIPTION": "发票台: invoice applications, invoices and files for upstream business systems, and the pool of "
                   "received invoices.",
    "VERSION": "1.4.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Generated clients: separate request and response components (XRequest for what is sent), English enum names,
    # no Chinese titles, and the headers the API sends and reads (api/schema.py).
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "InvoiceKindEnum": "api.schema.INVOICE_KIND_VALUES",
        "WebhookEventEnum": "api.serializers.webhook_event_choices",
        "BuyerKindEnum": "invoicing.models.CounterpartyKind",
        "BillingDocumentStatusEnum": "issuing.billing.models.BillingDocumentStatus",
        "InvoiceStatusEnum": "issuing.platform.models.InvoiceStatus",
        "InvoicingBasisEnum": "issuing.billing.models.InvoicingBasis",
        "SpecificBusinessEnum": "issuing.base.SpecificBusiness",
        "RedReasonCodeEnum": "issuing.redletter.models.RedReasonCode",
        "RedFlushRequestStatusEnum": "issuing.redletter.models.RedFormState",
        "DeliveryStatusEnum": "delivery.models.DeliveryStatus",
        "ReceivedKindEnum": "receiving.models.ReceivedKind",
        "CollectOutcomeEnum": "receiving.models.Outcome",
        "ClaimStateEnum": "receiving.claims_models.ClaimState",
        "DeductionPurposeEnum": "deduction.models.Purpose",
        "NotDeductReasonEnum": "deduction.models.NotDeductReason",
        "SelectionOutcomeEnum": "api.serializers.SELECTION_OUTCOMES",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.postprocess"],
}

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# Tax-platform channel. "sandbox" talks to the built-in stand-in over HTTP (SANDBOX_URL) or in process.
TAX_CHANNEL_TRANSPORT = env_choice("TAX_CHANNEL_TRANSPORT", ("inprocess", "http"), "inprocess")
SANDBOX_URL = env_str("SANDBOX_URL", SITE_URL + "/sandbox/api/")
# Nuonuo (诺诺) open platform, for entities whose channel is "nuonuo" (docs/operations.md, "Nuonuo").
NUONUO_API_URL = env_str("NUONUO_API_URL", "https://sdk.nuonuo.com/open/v1/services")
NUONUO_TOKEN_URL = env_str("NUONUO_TOKEN_URL", "https://open.nuonuo.com/accessToken")
NUONUO_FILE_HOSTS = env_list("NUONUO_FILE_HOSTS", [".nuonuo.com", ".jss.com.cn", ".nuonuocs.cn", ".nntest.cn"])
NUONUO_CONNECT_TIMEOUT = env_int("NUONUO_CONNECT_TIMEOUT", 5)
NUONUO_READ_TIMEOUT = env_int("NUONUO_READ_TIMEOUT", 20)
NUONUO_CALLBACK_URL = env_str("NUONUO_CALLBACK_URL", "").rstrip("/")  # empty: no callBackUrl, polling only

# Tax rule knobs (domain.md §8.2); configurable because the platform's exact formula is unverified.
TAX_LINE_TOLERANCE = env_str("TAX_LINE_TOLERANCE", "0.06")
TAX_INVOICE_TOLERANCE = env_str("TAX_INVOICE_TOLERANCE", "1.27")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"fontTools": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}},
}

LOGIN_URL = "admin:login"
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
