"""Placeholder until this part of the console lands (issue 4); every view answers 404."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def dashboard(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404
