"""Placeholder: the disclosures register (issue 8, being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def register(request: HttpRequest) -> HttpResponse:
    raise Http404


def new_disclosure(request: HttpRequest) -> HttpResponse:
    raise Http404


def export(request: HttpRequest, disclosure_id: object, fmt: str) -> HttpResponse:
    raise Http404
