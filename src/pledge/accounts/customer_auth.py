"""Placeholder: the issue-5 accounts helper writes customer sign-in sessions here."""

from __future__ import annotations

from django.http import HttpRequest

from pledge.accounts.models import CustomerAccount


def signed_in_account(request: HttpRequest) -> CustomerAccount | None:
    return None
