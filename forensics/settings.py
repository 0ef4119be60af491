"""Settings for the forensics project.

Every value comes from the environment through ``env_str``/``env_bool``/
``env_int``. The defaults serve a laptop (SQLite, a local media folder, Celery
tasks run in-process); production overrides them. Each variable is documented
once, in the README's table.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# Core

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Where the laptop default keeps its SQLite database and uploaded files.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "audit",
    "accounts",
    "cases",
    "leads",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "forensics.middleware.ContentSecurityPolicyMiddleware",
    "forensics.middleware.StorageUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestIDMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.IdleSessionTimeoutMiddleware",
    "accounts.middleware.SecondFactorMiddleware",
    "accounts.middleware.ApiTokenUseMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "forensics.urls"
WSGI_APPLICATION = "forensics.wsgi.application"

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
                "forensics.context_processors.navigation",
            ],
        },
    },
]

# Database: SQLite on a laptop, PostgreSQL in production (DATABASE_URL).

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # IMMEDIATE takes the write lock when a transaction starts, so
            # concurrent writers queue instead of failing mid-transaction.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Authentication and sessions

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# accounts.lockout: too many failed logins for a user name (or from an address)
# within LOGIN_LOCKOUT_SECONDS lock it out until the attempts stop.
AUTHENTICATION_BACKENDS = ["accounts.lockout.LockoutModelBackend"]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_LIMIT_PER_IP = env_int("LOGIN_FAILURE_LIMIT_PER_IP", 50)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)
# accounts.otp (django-otp): anyone may add an authenticator app as a second
# factor; with this on, auditors and admins must before they can do anything else.
OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS = env_bool("OTP_REQUIRED_FOR_AUDITORS_AND_ADMINS", False)
OTP_TOTP_ISSUER = "Sketch inversion"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Cookies are HTTPS-only unless DEBUG; set HTTPS=0 to serve plain HTTP on a
# trusted network.
HTTPS = env_bool("HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Logged out after this many seconds without a request (0: never), by
# accounts.middleware.IdleSessionTimeoutMiddleware.
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto/-Host/-For.
TRUST_PROXY_HEADERS = env_bool("TRUST_PROXY_HEADERS", False)
# How many proxies in front of the app append to X-Forwarded-For: the client
# address (audit trail, per-address lockout) is that many entries from the
# right; entries further left come from the client and are ignored.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if TRUST_PROXY_HEADERS else 0)
if TRUST_PROXY_HEADERS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# Over HTTPS: redirect plain HTTP (not the health check) and tell browsers
# to use HTTPS only, for a year, on subdomains too.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 60 * 60 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sent by forensics.middleware.ContentSecurityPolicyMiddleware: only this site's
# own scripts, styles, images and requests; no plugins, no framing, forms post
# only here. Style attributes are allowed (the face-crop box is placed by one).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

# Internationalization

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files (served by WhiteNoise) and media (local folder or S3)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = DATA_DIR / "media"
# No MEDIA_URL route: evidence files are served only by permission-checked views.

STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local")
if STORAGE_BACKEND == "local":
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
elif STORAGE_BACKEND == "s3":
    import botocore.config

    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID"),
            "secret_key": env_str("S3_SECRET_ACCESS_KEY"),
            "addressing_style": "path" if env_str("S3_ENDPOINT_URL") else None,
            "signature_version": "s3v4",
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
            # A store that accepts a connection and never answers fails the request in
            # S3_TIMEOUT seconds (a clear 503, or a job retried), not botocore's 60 s.
            "client_config": botocore.config.Config(
                connect_timeout=env_int("S3_TIMEOUT", 10),
                read_timeout=env_int("S3_TIMEOUT", 10),
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        },
    }
    if not _default_storage["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfigured("S3_BUCKET must be set when STORAGE_BACKEND is s3")
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'local' or 's3', not {STORAGE_BACKEND!r}")

STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads: a sketch scan is a few megabytes; anything larger is refused
# (cases.uploads), as is any image over UPLOAD_MAX_PIXELS (decompression bombs).
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o640

# Case bundles (cases/bundle/): the Ed25519 key that signs every export's manifest lives in
# files here, outside the database, made by `manage.py create_export_key`. Without a key,
# bundles go out unsigned and say so. Give the web processes read access only.
EXPORT_KEY_DIR = Path(env_str("EXPORT_KEY_DIR", str(DATA_DIR / "export-keys"))).resolve()

# REST API (/api/v1/): the same access rules as the pages, errors as JSON with a message.

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "accounts.tokens.ApiTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "cases.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sketch inversion API",
    "DESCRIPTION": "Cases, witness sketches, composites and the audit trail. Access is per case, as on the pages.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery: Redis in production; without REDIS_URL tasks run in-process.

REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "memory://"
# Rendered sketch cards and each user's count of unseen work (#13): shared in Redis where there is
# one, so that a worker finishing a job clears what the web processes keep; in this process otherwise.
# Keys are prefixed with the database's name: two deployments (or test runs) on one Redis keep apart.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
    | {"KEY_PREFIX": f"forensics:{DATABASES['default']['NAME']}"}
}
# Sessions are read from the shared cache and written through to the database (#13: one query less
# a request). Only a shared cache may hold them: a logout in one process must end the session in all.
SESSION_ENGINE = "django.contrib.sessions.backends." + ("cached_db" if REDIS_URL else "db")
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers consume this queue (``celery -A forensics worker -Q inversion``).
INVERSION_QUEUE = env_str("INVERSION_QUEUE", "inversion")
# Every job of the app (renders, what workers derive from uploads, morphs, the custody sweep) goes to it.
CELERY_TASK_ROUTES = {
    "inversion.tasks.*": {"queue": INVERSION_QUEUE},
    "cases.*": {"queue": INVERSION_QUEUE},
    "leads.*": {"queue": INVERSION_QUEUE},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A render job is stopped (its composites fail, saying why) after the soft
# limit, and its process killed after the hard one.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("INVERSION_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
# Longer than the longest job, or Redis redelivers a job that is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than INVERSION_TIME_LIMIT + 60 seconds")
# A worker process loads the networks before it reports ready; give it time.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 120
CELERY_TIMEZONE = TIME_ZONE
# The recovery sweep re-enqueues composites left requested or running too long.
COMPOSITE_RECOVERY_INTERVAL = env_int("COMPOSITE_RECOVERY_INTERVAL", 300)
COMPOSITE_STALE_AFTER = env_int("COMPOSITE_STALE_AFTER", CELERY_TASK_TIME_LIMIT + 60)
# A job the broker lost (a Redis flush or restart) or whose worker died is sent again
# when it has waited this long, checked every COMPOSITE_RESEND_INTERVAL seconds.
COMPOSITE_RESEND_AFTER = env_int("COMPOSITE_RESEND_AFTER", 30)
COMPOSITE_RESEND_INTERVAL = env_int("COMPOSITE_RESEND_INTERVAL", 20)
# The custody sweep re-hashes every stored file (cases.custody_sweep) every CUSTODY_SWEEP_INTERVAL
# seconds, on the workers' queue; a sweep still running when the next is due is stopped.
CUSTODY_SWEEP_INTERVAL = env_int("CUSTODY_SWEEP_INTERVAL", 24 * 60 * 60)
if CUSTODY_SWEEP_INTERVAL < 60:
    raise ImproperlyConfigured("CUSTODY_SWEEP_INTERVAL must be at least 60 seconds")
CELERY_BEAT_SCHEDULE = {
    "recover-composites": {"task": "inversion.tasks.recover", "schedule": COMPOSITE_RECOVERY_INTERVAL},
    "resend-lost-jobs": {"task": "inversion.tasks.resend", "schedule": COMPOSITE_RESEND_INTERVAL},
    # Gallery photos still waiting to be looked at, and searches still waiting, whose jobs were lost.
    "resend-lost-gallery-jobs": {"task": "leads.resend", "schedule": COMPOSITE_RESEND_INTERVAL},
    "custody-sweep": {
        "task": "cases.custody_sweep",
        "schedule": CUSTODY_SWEEP_INTERVAL,
        "options": {"queue": INVERSION_QUEUE},
    },
}

# The composite pipeline (cases/pipeline/, tasks in cases/tasks.py)

# Up to this many waiting composites of one style run through the network together.
INVERSION_BATCH_SIZE = env_int("INVERSION_BATCH_SIZE", 8)
# Drawn in a band under every composite image.
COMPOSITE_LABEL = env_str("COMPOSITE_LABEL", "GENERATED COMPOSITE - NOT A PHOTOGRAPH")
# Side of the stored image in pixels; the network's output is upscaled to it.
COMPOSITE_SIZE = env_int("COMPOSITE_SIZE", 384)

# The press sheet of a released composite (cases/press.py): who the public should contact.
PRESS_CONTACT = env_str(
    "PRESS_CONTACT",
    "Anyone with information should contact the police on the non-emergency number, quoting the case reference.",
)

# E-mail: users may ask to hear when a composite they requested is done or has failed
# (cases/notifications.py, sent by the worker). The laptop default prints e-mails to the console.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("EMAIL_FROM", "sketch-inversion@localhost")
# Links in e-mails start with this: the address users open the site at.
EMAIL_SITE_URL = env_str("EMAIL_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Sketch inversion

INVERSION_WEIGHTS_DIR = Path(env_str("INVERSION_WEIGHTS_DIR", str(BASE_DIR / "inversion" / "weights")))

# Logging: everything to stderr, where gunicorn, celery and docker collect it.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": env_str("LOG_LEVEL", "INFO")},
}
