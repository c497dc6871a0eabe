"""Settings, all from the environment.

With nothing set this is the embedded default: SQLite (WAL) and a filesystem broker under
``var/``, so one machine with only Python runs the whole app. Set DATABASE_URL and
CELERY_BROKER_URL to scale out (PostgreSQL, Redis or RabbitMQ).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ASSESSOR_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default)).strip()
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    # A per-install key kept out of git, so a fresh machine never runs on a published key.
    path = VAR_DIR / "secret.key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# Served over HTTPS (HTTPS=true): secure-only cookies, HSTS, http redirected to https. Off by
# default, for the embedded run on http://127.0.0.1 (secure cookies would never come back there).
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000) if HTTPS else 0
# Choices about the whole domain, not this app (check --deploy notes W005 and W021 while off).
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS and env_bool("HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = HTTPS and env_bool("HSTS_PRELOAD", False)
SECURE_REDIRECT_EXEMPT = [r"^health$"]  # a load balancer's probe over plain http inside the network
# Behind TRUSTED_PROXIES reverse proxies (a TLS-terminating load balancer): the scheme comes from
# X-Forwarded-Proto and the client's address from X-Forwarded-For (the login throttle's).
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
if TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "config",
    "labeling",
    "annotate",
    "distill",
    "workspace",
    "ninja",  # its Swagger UI from local static files, not a CDN
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login but those marked @login_not_required (/health, the login page).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a throttled login (config.login_throttle) into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'assessor.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE avoids the
        # upgrade deadlock that deferred transactions hit under concurrent writers.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # Tests that use a worker process need the test database in a file it can open too; one
    # per test process, so two test runs never share (and clobber) one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters bound server-side let psycopg prepare the statements a connection repeats
    # (a grading request sends about thirty, the same each time): PostgreSQL plans each once
    # per connection, which halves its CPU per request. Behind a pooler that cannot keep
    # prepared statements (PgBouncer before 1.21 in transaction mode), set
    # DATABASE_PREPARE_THRESHOLD=off.
    prepare_threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")
    if prepare_threshold != "off":
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=int(prepare_threshold)
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
AUTHENTICATION_BACKENDS = ["config.login_throttle.LoginThrottleBackend", "django.contrib.auth.backends.ModelBackend"]
# Login throttling (django-axes; config.login_throttle says why that and how).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: an account, an address
AXES_CLIENT_IP_CALLABLE = "config.login_throttle.client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# A success does not clear the count: it would clear the address's too (an attacker's own
# account would reset the count of their guesses at another).
AXES_RESET_ON_SUCCESS = False
AXES_VERBOSE = False  # no start-up line in every command's output; failed logins are still logged
LOGIN_URL = "login"
# An annotator's hold on a pair lapses after this long idle (annotate's queue).
ANNOTATE_LEASE_SECONDS = int(os.environ.get("ANNOTATE_LEASE_SECONDS", "300"))
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
# Serve straight from static/ too, so the embedded default needs no collectstatic step.
WHITENOISE_USE_FINDERS = True

# Offline models: converted weights and fine-tuned students live here, never in git.
MODEL_DIR = Path(os.environ.get("ASSESSOR_MODEL_DIR", VAR_DIR / "models"))
ARTIFACT_DIR = Path(os.environ.get("ASSESSOR_ARTIFACT_DIR", VAR_DIR / "artifacts"))
# The API's imports: a server path must lie inside IMPORT_ROOT; uploads wait in UPLOAD_DIR.
IMPORT_ROOT = Path(os.environ.get("ASSESSOR_IMPORT_ROOT", VAR_DIR / "imports"))
UPLOAD_DIR = Path(os.environ.get("ASSESSOR_UPLOAD_DIR", VAR_DIR / "uploads"))
# Per API token: judge calls a minute, imports an hour (api.ratelimit).
API_JUDGE_PER_MINUTE = env_int("API_JUDGE_PER_MINUTE", 60)
API_IMPORTS_PER_HOUR = env_int("API_IMPORTS_PER_HOUR", 60)
API_UPLOAD_MAX_BYTES = env_int("API_UPLOAD_MAX_BYTES", 1 << 30)

# Celery. The default broker is a folder (kombu's filesystem transport): no server needed.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem"):
    _broker = Path(os.environ.get("ASSESSOR_BROKER_DIR", VAR_DIR / "broker"))
    for _sub in ("queue", "control", "processed"):
        (_broker / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "control_folder": str(_broker / "control"),
        "processed_folder": str(_broker / "processed"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only when done, so a killed worker's task is delivered again;
# tasks are idempotent and checkpoint, so the redelivery resumes rather than repeats.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A running job's lease (labeling.workers): renewed every quarter of it, taken over by another
# worker only once it has expired; so a dead worker's job resumes within about this long.
JOB_LEASE_SECONDS = float(os.environ.get("ASSESSOR_JOB_LEASE_SECONDS", "60"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"forbidden_one_line": {"()": "config.log_filters.ForbiddenOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"filters": ["forbidden_one_line"]},
        "axes": {"level": "WARNING"},  # failed logins and lockouts; not a line per successful login
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
