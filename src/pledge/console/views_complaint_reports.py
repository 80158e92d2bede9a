"""Placeholder: complaint reports (being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def reports(request: HttpRequest) -> HttpResponse:
    raise Http404


def reports_csv(request: HttpRequest) -> HttpResponse:
    raise Http404
