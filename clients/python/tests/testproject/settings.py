"""Settings of the Django project the tests run in (SQLite, purgebus, Wagtail)."""

SECRET_KEY = "purgebus-tests-only"
DEBUG = False
USE_TZ = True
USE_I18N = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "testproject.urls"
SITE_ID = 1
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sites",
    "taggit",
    "modelcluster",
    "wagtail.sites",
    "wagtail.contrib.frontend_cache",
    "wagtail",
    "purgebus.django",
    "testapp",
]
# NATS_URL comes from the environment the tests set up (the consumer they start).
PURGEBUS = {"SOURCE": "django-tests", "BASE_URL": "https://www.example.com", "WAIT_TIMEOUT": 20}
WAGTAILFRONTENDCACHE = {
    "purgebus": {
        "BACKEND": "purgebus.wagtail.PurgebusBackend",
        "SOURCE": "wagtail-tests",
        "CPCODES": {"localhost": [424242]},
    },
}
WAGTAIL_SITE_NAME = "purgebus tests"
WAGTAILADMIN_BASE_URL = "http://localhost"
LOGGING = {"version": 1, "disable_existing_loggers": False}
STATIC_URL = "/static/"
