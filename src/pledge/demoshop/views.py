"""Placeholder until the issue-5 helper that owns this module writes it."""

from django.http import Http404, HttpRequest, HttpResponse



def checkout(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def product(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404
