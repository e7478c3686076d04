"""django-akamai's API on purgebus: signals, PurgeRequest, settings and management commands.

Add ``"purgebus.django"`` to ``INSTALLED_APPS`` and configure the
``PURGEBUS`` setting; then ``from purgebus.django.signals import
purge_request, queue_purge_request`` replaces ``from akamai.signals import …``.
"""
