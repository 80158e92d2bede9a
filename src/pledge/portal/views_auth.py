"""Placeholder until the issue-5 helper that owns this module writes it."""

from django.http import Http404, HttpRequest, HttpResponse



def login(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def logout(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def password_reset(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def password_reset_confirm(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def register(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def revoke_session(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def sessions(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404


def verify_email(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise Http404
