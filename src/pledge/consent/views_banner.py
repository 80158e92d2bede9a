"""Placeholder until the issue-5 helper that owns this module writes it."""

from django.http import Http404, HttpRequest, HttpResponse



def banner_css(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def banner_js(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def beacon(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def choices(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def config(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404
