from django.db import models
from wagtail.models import Page


class Article(models.Model):
    """Article is a model with get_absolute_url(), as django-akamai senders have."""

    slug = models.SlugField()
    section = models.CharField(max_length=50, default="news")

    def get_absolute_url(self) -> str:
        return f"/articles/{self.slug}/"


class Note(models.Model):
    """Note has no get_absolute_url(): it cannot be purged."""

    text = models.TextField()


class BlogPage(Page):
    """BlogPage is cached at its URL and at its feed."""

    def get_cached_paths(self) -> list[str]:
        return ["/", "/feed/"]
