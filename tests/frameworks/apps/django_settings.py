"""Django settings for django_app: no database, no middleware, URLs from django_app itself."""

from __future__ import annotations

SECRET_KEY = "serve-framework-tests-only"  # noqa: S105 - a test app, never deployed
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "django_app"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
