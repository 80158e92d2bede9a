"""Placeholder: the public complaint form and status page (being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def start(request: HttpRequest) -> HttpResponse:
    raise Http404


def status(request: HttpRequest, token: str) -> HttpResponse:
    raise Http404


def evidence(request: HttpRequest, token: str, evidence_id: object) -> HttpResponse:
    raise Http404
