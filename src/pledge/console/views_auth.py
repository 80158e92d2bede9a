"""Placeholder until this part of the console lands (issue 4); every view answers 404."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def login_password(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def login_second_factor(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def logout(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def password_reset(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def password_reset_confirm(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def setup_account(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def account(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404
