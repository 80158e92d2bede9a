"""Placeholder: the incident register (issue 8, being written)."""

from django.http import Http404, HttpRequest, HttpResponse


def incidents(request: HttpRequest) -> HttpResponse:
    raise Http404


def record_incident(request: HttpRequest) -> HttpResponse:
    raise Http404


def incident_detail(request: HttpRequest, incident_id: object) -> HttpResponse:
    raise Http404


def authority_report(request: HttpRequest, incident_id: object) -> HttpResponse:
    raise Http404


def authority_report_pdf(request: HttpRequest, incident_id: object) -> HttpResponse:
    raise Http404
