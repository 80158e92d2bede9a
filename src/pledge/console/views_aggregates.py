"""Placeholder: aggregate statistics (issue 8, being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def aggregates(request: HttpRequest) -> HttpResponse:
    raise Http404


def aggregates_csv(request: HttpRequest) -> HttpResponse:
    raise Http404
