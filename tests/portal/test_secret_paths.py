"""A link's secret never reaches the logs (P16): Django logs every 4xx answer with its path, and a
verification or reset page answers 400 to a wrong password while its link still works. Those
pages log their URL pattern instead. (The unsubscribe page: tests/consent/test_unsubscribe.py.)"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import transaction

from pledge.accounts import customers
from pledge.accounts.models import CustomerAccount
from tests.portal.conftest import english, make_account


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_a_reset_link_re_shown_with_an_error_keeps_its_token_out_of_the_log(
    account: CustomerAccount, caplog: pytest.LogCaptureFixture
) -> None:
    token = customers.make_reset_token(account)
    with caplog.at_level(logging.INFO):
        weak = english().post(f"/me/password-reset/{token}/", {"password": "short"})
    assert weak.status_code == 400
    # The link still works: the token is a live secret.
    assert customers.reset_link_account(token) is not None
    assert token not in logged(caplog)
    assert "Bad Request: /me/password-reset/<str:token>/" in logged(caplog)


def test_a_verification_link_with_a_wrong_password_keeps_its_token_out_of_the_log(
    leman: Any, caplog: pytest.LogCaptureFixture
) -> None:
    account = make_account("new@example.com", verified=False)
    with transaction.atomic():
        token = customers.make_verify_token(account)
    with caplog.at_level(logging.INFO):
        wrong = english().post(f"/me/verify/{token}/", {"password": "not the password at all"})
        other = english().put(f"/me/verify/{token}/")
    assert (wrong.status_code, other.status_code) == (400, 405)
    assert customers.verify_link_account(token) is not None
    assert token not in logged(caplog)
    assert "/me/verify/<str:token>/" in logged(caplog)
