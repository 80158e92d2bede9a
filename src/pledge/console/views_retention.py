"""Placeholder: retention sweeps (issue 8, being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def runs(request: HttpRequest) -> HttpResponse:
    raise Http404


def run_detail(request: HttpRequest, run_id: object) -> HttpResponse:
    raise Http404
