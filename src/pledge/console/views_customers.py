"""Placeholder until this part of the console lands (issue 4); every view answers 404."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def search(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def customer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def break_glass(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404
