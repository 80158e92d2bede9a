"""Placeholder: the console's complaints desk (being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def queue(request: HttpRequest) -> HttpResponse:
    raise Http404


def record_complaint(request: HttpRequest) -> HttpResponse:
    raise Http404


def complaint_detail(request: HttpRequest, complaint_id: object) -> HttpResponse:
    raise Http404


def evidence(request: HttpRequest, complaint_id: object, evidence_id: object) -> HttpResponse:
    raise Http404
