"""Settings for every deployment, driven by environment variables only.

With no variable set this is the *embedded default*: SQLite, the in-memory channel layer, Celery
over a broker kept in files, and files under DATA_DIR; nothing external runs. Production sets
DATABASE_URL (PostgreSQL), REDIS_URL (channel layer and Celery broker), SECRET_KEY, ALLOWED_HOSTS,
the storage variables and TLS=on. See README.md, "Configuration".
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from imaging.dicom import aetitle as _aetitle
from telemed.env import (
    env_bool,
    env_choice,
    env_int,
    env_int_list,
    env_ip_address,
    env_list,
    env_str,
    secret_from_env_or_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = secret_from_env_or_file("SECRET_KEY", DATA_DIR / "secret_key")
# Encrypts national ID numbers at rest; separate from SECRET_KEY so rotating one leaves the other.
FIELD_ENCRYPTION_KEY = secret_from_env_or_file("FIELD_ENCRYPTION_KEY", DATA_DIR / "field_key")
# Seals the audit chain; kept apart from the database so database access alone cannot re-seal it.
AUDIT_CHAIN_KEY = secret_from_env_or_file("AUDIT_CHAIN_KEY", DATA_DIR / "audit_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "telemed.admin_apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "corsheaders",
    "telemed.accounts",
    "telemed.patients",
    "telemed.audit",
    "telemed.web",
    "telemed.video",
    "consults",
    "imaging",
    "rounds",
]

MIDDLEWARE = [
    # First: it answers CORS preflights itself and must add its headers to every /dicomweb/ answer.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "telemed.audit.middleware.AuditOriginMiddleware",
    "telemed.web.middleware.LoginRequiredMiddleware",
    "telemed.web.middleware.UserTimezoneMiddleware",
]

ROOT_URLCONF = "telemed.urls"
ASGI_APPLICATION = "telemed.asgi.application"
# Threads of a server process that run requests' synchronous code, one request each at a time
# (telemed/web/handler.py); a request beyond them waits for one to be free.
HTTP_WORKER_THREADS = env_int("HTTP_WORKER_THREADS", 16, minimum=1)
# The largest request body the server takes (telemed/web/server.py): larger ones are refused with
# 413 and never written anywhere. STOW-RS of a whole study in one request needs it large.
HTTP_MAX_BODY_BYTES = env_int("HTTP_MAX_BODY_MB", 4096, minimum=1) * 1024 * 1024
# Request bodies a server process may hold in memory at once (telemed/web/server.py); one body
# takes at most a quarter of it, and a body that does not fit goes to a temporary file. 0: none.
HTTP_BODY_MEMORY_BYTES = env_int("HTTP_BODY_MEMORY_MB", 256, minimum=0) * 1024 * 1024
WSGI_APPLICATION = "telemed.wsgi.application"

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
                "telemed.web.context.navigation",
                "consults.context.live",
                "imaging.context.critical_findings",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be read: {exc}") from None
    if DATABASES["default"]["ENGINE"] not in (
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    ):
        raise ImproperlyConfigured("DATABASE_URL must name PostgreSQL (postgres://…) or SQLite (sqlite:///…).")
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # One pool per process, shared by the HTTP worker threads (telemed/web/handler.py) and
        # the threads Channels consumers run their database code on: a request takes a
        # connection and gives it back when it ends, so the process holds at most max_size
        # whatever its thread count (with CONN_HEALTH_CHECKS, Django has the pool check a
        # connection before lending it).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # Django's backend, with the pool's check of a connection it lends made by its socket
        # rather than by a round trip to the server, and prepared statements for the queries
        # every request makes (telemed/postgres/base.py).
        DATABASES["default"]["ENGINE"] = "telemed.postgres"
        # psycopg prepares statements only when this is set. Django's own cursors write the
        # values into the text and never prepare; the backend's prepared_cursor() prepares each
        # of its statements at its first run on a connection.
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 2,
            "max_size": env_int("DATABASE_POOL_SIZE", 20, minimum=1),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "telemed.sqlite3",
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers of the audit chain queue instead of
    # failing with "database is locked" halfway through; WAL lets readers run beside a writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker ---------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and urlparse(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://.")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 gives sockets a 5 s read timeout, the same as channels_redis's blocking
            # pop: under load a pop that returns at 5 s times out and its message is lost
            # (redis/redis-py#4091). No read timeout, as with redis-py 7.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "prefix": env_str("CHANNELS_PREFIX", "telemed")},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # Kombu's filesystem transport: a real queue shared by daphne and the worker through files,
    # so background tasks run in the embedded default without a broker service.
    _queue_dir = DATA_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "verify-audit-chain": {"task": "telemed.audit.tasks.verify_audit_chain", "schedule": timedelta(hours=24)},
    "prune-login-failures": {"task": "telemed.accounts.tasks.prune_login_failures", "schedule": timedelta(hours=1)},
    # Each run handles everything due; `expires` keeps a stopped worker from finding a backlog of copies.
    "send-due-reminders": {"task": "consults.tasks.send_due_reminders", "schedule": timedelta(seconds=30), "options": {"expires": 30}},
    "escalate-unaccepted-urgent": {"task": "consults.tasks.escalate_unaccepted_urgent", "schedule": timedelta(seconds=60), "options": {"expires": 60}},
    "escalate-unacknowledged-critical": {"task": "imaging.tasks.escalate_unacknowledged_critical", "schedule": timedelta(seconds=60), "options": {"expires": 60}},
}

# --- Files ------------------------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "files")))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Serve from the app folders too, so a server started without collectstatic still has its CSS.
WHITENOISE_USE_FINDERS = True
STATICFILES_DIRS = [BASE_DIR / "static"]
_storage_backend = env_choice("FILE_STORAGE", "filesystem", ("filesystem", "s3"))
if _storage_backend == "s3":
    _bucket = env_str("S3_BUCKET")
    if not _bucket:
        raise ImproperlyConfigured("FILE_STORAGE=s3 needs S3_BUCKET (and S3_ENDPOINT_URL, S3_ACCESS_KEY, S3_SECRET_KEY).")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "access_key": env_str("S3_ACCESS_KEY") or None,
            "secret_key": env_str("S3_SECRET_KEY") or None,
            "region_name": env_str("S3_REGION") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "telemed.storage.DurableFileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "file_permissions_mode": 0o640},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Identity and sign-in ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sessions end after this long without a request (the expiry is renewed on every request).
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30, minimum=1) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
LOGIN_THROTTLE = {
    "window": timedelta(minutes=env_int("LOGIN_THROTTLE_WINDOW_MINUTES", 15, minimum=1)),
    "per_account": env_int("LOGIN_THROTTLE_PER_ACCOUNT", 5, minimum=1),
    "per_ip": env_int("LOGIN_THROTTLE_PER_IP", 20, minimum=1),
}
ACCESS_TOKEN_MAX_DAYS = env_int("ACCESS_TOKEN_MAX_DAYS", 365, minimum=1)
# How long a token found valid is trusted without a database lookup (0: never); revoking it
# takes effect at once in the process that revoked it, within this time in the others.
ACCESS_TOKEN_CACHE_SECONDS = env_int("ACCESS_TOKEN_CACHE_SECONDS", 10, minimum=0)

# --- TLS --------------------------------------------------------------------------------------
TLS = env_bool("TLS", False)
if TLS:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# How many reverse proxies stand in front of daphne; the client IP in the audit trail is taken
# from X-Forwarded-For only that many hops deep, so a client cannot forge it.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- Language and time ------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "telemed.accounts.authentication.AccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "telemed.accounts.authentication.TokenScopePermission",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "telemed.web.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Telemed API",
    "DESCRIPTION": "Remote consultations, imaging reads and ward rounds between designated hospitals and grassroots clinics.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()},
}

# The largest single DICOM instance accepted on any path.
DICOM_MAX_INSTANCE_BYTES = env_int("DICOM_MAX_INSTANCE_MB", 1024, minimum=1) * 1024 * 1024
# A deflated data set is inflated as it is read, never whole: what comes before its pixel data is
# held in memory meanwhile, and one frame as it is retrieved or rendered: at most this much each
# (imaging/dicom/inflated.py).
DICOM_MAX_INFLATED_HEADER_BYTES = env_int("DICOM_MAX_INFLATED_HEADER_MB", 64, minimum=1) * 1024 * 1024
# The most one decoding of compressed pixel data may produce: a frame to render or to send
# decoded, or every frame of an instance transcoded whole. Decoders allocate what the compressed
# data declares, so a file of 1 KB could otherwise ask for gigabytes (imaging/dicom/codestreams.py).
DICOM_MAX_DECODED_BYTES = env_int("DICOM_MAX_DECODED_MB", 512, minimum=1) * 1024 * 1024
# Run by each server process as it starts, before its first request (telemed/web/server.py).
SERVER_WARM_UP = ["imaging.services.pixels.warm_up"]
# Decoded frames kept per server process for rendering (window drags, low then full quality).
IMAGING_FRAME_CACHE_BYTES = env_int("IMAGING_FRAME_CACHE_MB", 128, minimum=0) * 1024 * 1024
# How much DICOM one institution may keep, unless an administrator sets its own quota; 0: no limit.
DICOM_DEFAULT_QUOTA_BYTES = env_int("DICOM_QUOTA_GB", 100, minimum=0) * 1024**3
# Our AE title: the SCP answers to it and the C-ECHO check of a node calls with it.
DICOM_AE_TITLE = env_str("DICOM_AE_TITLE", "TELEMED")
if _problem := _aetitle.ae_title_problem(DICOM_AE_TITLE):
    raise ImproperlyConfigured(f"DICOM_AE_TITLE={DICOM_AE_TITLE!r}: {_aetitle.PROBLEMS[_problem]}.")

# --- CORS, for DICOMweb only --------------------------------------------------------------------
# An external DICOMweb viewer (OHIF) served from one of these origins may call /dicomweb/ with a
# bearer token. Cookies are never allowed cross-origin, so a signed-in session cannot be used
# from another site; every other path sends no CORS headers at all.
CORS_URLS_REGEX = r"^/dicomweb/.*$"
CORS_ALLOWED_ORIGINS = env_list("DICOMWEB_CORS_ORIGINS", [])
for _origin in CORS_ALLOWED_ORIGINS:
    _parsed = urlparse(_origin)
    if _parsed.scheme not in ("http", "https") or not _parsed.netloc or _parsed.path or _parsed.query:
        raise ImproperlyConfigured(f"DICOMWEB_CORS_ORIGINS: {_origin!r} is not an origin such as https://viewer.example.org (scheme and host, no path).")
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS", "POST")
CORS_EXPOSE_HEADERS = ("Content-Type", "Content-Length", "Content-Location", "Warning")  # a search's ignored parameters
CORS_PREFLIGHT_MAX_AGE = 86400

# --- Notifications ------------------------------------------------------------------------------
# The SMS gateway seam: a class with send(phone, text); the default writes to the log.
SMS_SENDER = env_str("SMS_SENDER", "consults.services.notify.ConsoleSms")
# Reminders before a consult, in minutes (24 h and 15 min by default).
CONSULT_REMINDER_MINUTES = env_int_list("CONSULT_REMINDER_MINUTES", [1440, 15])
# An urgent request offered to the on-duty expert escalates to the coordinators after this long.
URGENT_ESCALATION_MINUTES = env_int("URGENT_ESCALATION_MINUTES", 15, minimum=1)
# A critical finding (危急值) not acknowledged by the clinic alerts its other doctors and the
# hospital's coordinators after this long; a hospital's reading policy may set its own.
READ_CRITICAL_ACK_MINUTES = env_int("READ_CRITICAL_ACK_MINUTES", 10, minimum=1)
# Video rooms. The join link's token lives only long enough to open the WebSocket; access is
# re-checked this often while connected, so a revoked person's media stops within seconds.
VIDEO_JOIN_TOKEN_SECONDS = env_int("VIDEO_JOIN_TOKEN_SECONDS", 120, minimum=5)
VIDEO_RECHECK_SECONDS = env_int("VIDEO_RECHECK_SECONDS", 2, minimum=1)
VIDEO_GUEST_LINK_HOURS = env_int("VIDEO_GUEST_LINK_HOURS", 24, minimum=1)
# STUN/TURN for browsers behind NAT; TURN credentials use coturn's use-auth-secret (TURN REST API).
VIDEO_STUN_URLS = env_list("VIDEO_STUN_URLS", [])
VIDEO_TURN_URLS = env_list("VIDEO_TURN_URLS", [])
VIDEO_TURN_SECRET = env_str("VIDEO_TURN_SECRET")
VIDEO_TURN_TTL_SECONDS = env_int("VIDEO_TURN_TTL_SECONDS", 6 * 3600, minimum=60)
# Where the relay runs: inside this server process, or on `manage.py runrelay` workers (Redis).
VIDEO_RELAY = env_choice("VIDEO_RELAY", "inprocess", ("inprocess", "workers"))
VIDEO_MAX_PUBLISHERS = env_int("VIDEO_MAX_PUBLISHERS", 8, minimum=1)
VIDEO_MAX_BITRATE_KBPS = env_int("VIDEO_MAX_BITRATE_KBPS", 1500, minimum=100)
# A relay behind a 1:1 NAT or a port forward: the public address it announces beside its own
# (same UDP ports; docs/deploy.md bounds them). Empty: the relay's addresses as they are.
VIDEO_RELAY_PUBLIC_IP = env_ip_address("VIDEO_RELAY_PUBLIC_IP")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "telemed@localhost")
