"""Placeholder until the issue-5 helper that owns this module writes it."""

from django.http import Http404, HttpRequest, HttpResponse



def access_log(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def consents(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def edit_data(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def home(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def marketing(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def my_data(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def policy_versions(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def receipt(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def set_consent(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404
