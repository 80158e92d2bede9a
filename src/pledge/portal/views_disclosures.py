"""Placeholder: who received my data (issue 8, being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def received(request: HttpRequest) -> HttpResponse:
    raise Http404
