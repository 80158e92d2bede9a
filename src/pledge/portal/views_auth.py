"""The privacy center's account pages (P16, P18): register, confirm the email, sign in and out,
reset a forgotten password, change the password, and the list of sessions with their revoke
buttons.

Thin views: forms in `forms_auth`, every change is a service of `pledge.accounts.customers`.
Register, a failed sign-in and a reset request answer with the same page and status whether the
email is known or not (no account enumeration).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.request import split_domain_port
from django.middleware.csrf import rotate_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from pledge.accounts import customers, throttle
from pledge.accounts.clients import client_address, user_agent
from pledge.accounts.customer_auth import (
    SESSION_ACCOUNT,
    SESSION_HASH,
    current_session_key,
    describe_device,
    device_cookie,
    forget_cached_account,
    new_device_id,
    session_hash,
    set_device_cookie,
    signed_in_account,
)
from pledge.accounts.models import CustomerAccount
from pledge.accounts.sessions import follow_new_session_key
from pledge.consent.secret_paths import secret_path_view
from pledge.portal.access import CustomerContext, customer_view
from pledge.portal.forms_auth import (
    ChangePasswordForm,
    LoginForm,
    RegisterForm,
    ResetRequestForm,
    SetPasswordForm,
    VerifyForm,
)

NEXT_PREFIX = "/me/"


def _request_origin(request: HttpRequest) -> str:
    """`scheme://host[:port]` of this request, for links in emails when PLEDGE_PUBLIC_URL is not
    set. Django checks the Host header's name against ALLOWED_HOSTS but not its port, so a port
    the request names is kept only when it is the one the request arrived on: otherwise anyone
    could have a reset link point at a port of an allowed host they listen on (password-reset
    poisoning). A Host without a port (a TLS proxy's) means the scheme's default port."""
    domain, port = split_domain_port(request.get_host())
    if port and port != str(request.META.get("SERVER_PORT", "")):
        port = ""
    return f"{request.scheme}://{domain}{':' + port if port else ''}"


def _links(request: HttpRequest) -> customers.Links:
    """Absolute links for the emails: PLEDGE_PUBLIC_URL when set (the address customers know),
    else this request's own host (checked against ALLOWED_HOSTS by Django, `_request_origin`)."""
    public = str(getattr(settings, "PLEDGE_PUBLIC_URL", "") or "") or _request_origin(request)

    def absolute(path: str) -> str:
        return f"{public}{path}"

    return customers.Links(
        verify=lambda token: absolute(reverse("portal:verify", args=[token])),
        reset=lambda token: absolute(reverse("portal:password_reset_confirm", args=[token])),
        login=absolute(reverse("portal:login")),
        reset_request=absolute(reverse("portal:password_reset")),
        sessions=absolute(reverse("portal:sessions")),
    )


def _safe_next(request: HttpRequest, value: str | None) -> str:
    """Where to go after signing in: a path of the privacy center on this site, else its home."""
    if (
        value
        and len(value) <= 500
        and value.startswith(NEXT_PREFIX)
        and value.isprintable()
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return value
    return reverse("portal:home")


def _sign_in_failed() -> str:
    # One message for an unknown email, a wrong password, an unverified or disabled account and a
    # lockout: the answer must not say which (P16).
    minutes = max(1, round(throttle.lockout().total_seconds() / 60))
    return ngettext(
        "Sign-in failed. Either the email address or the password is wrong, the email address is "
        "not confirmed yet, or sign-in is paused for %(minutes)d minute after too many failed "
        "attempts.",
        "Sign-in failed. Either the email address or the password is wrong, the email address is "
        "not confirmed yet, or sign-in is paused for %(minutes)d minutes after too many failed "
        "attempts.",
        minutes,
    ) % {"minutes": minutes}


def _complete_sign_in(
    request: HttpRequest, account: CustomerAccount, *, via: str, to: str
) -> HttpResponse:
    """A new session key (no fixation), the account and its password binding in the session, the
    session row, and the device cookie (P16: a new browser triggers a notice)."""
    old_key = current_session_key(request)
    request.session.cycle_key()
    # A new CSRF secret too, as django.contrib.auth.login does: a token planted in this browser
    # before the sign-in (a cookie set from a sibling subdomain) must not work after it.
    rotate_token(request)
    follow_new_session_key(old_key, current_session_key(request))  # a staff session here too
    request.session[SESSION_ACCOUNT] = str(account.pk)
    request.session[SESSION_HASH] = session_hash(account)
    request.session.set_expiry(int(settings.PLEDGE_CUSTOMER_SESSION_SECONDS))
    forget_cached_account(request)
    device_id = device_cookie(request) or new_device_id()
    customers.open_session(
        account=account,
        session_key=current_session_key(request),
        address=client_address(request),
        user_agent=user_agent(request),
        device_id=device_id,
        via=via,
        links=_links(request),
    )
    response = redirect(to)
    set_device_cookie(response, device_id)
    return response


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/auth/link_invalid.html", status=400)


def _policy_version() -> str:
    from pledge.policy.services import active_version

    version = active_version()
    return version.version if version is not None else ""


# ── Register and confirm ──────────────────────────────────────────────────────────────────────


@never_cache
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if signed_in_account(request) is not None:
        return redirect("portal:home")
    version = _policy_version()
    posted = request.method == "POST"
    form = RegisterForm(request.POST if posted else None, policy_version=version)
    if posted and form.is_valid():
        try:
            customers.register(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                language=translation.get_language() or settings.LANGUAGE_CODE,
                address=client_address(request),
                links=_links(request),
                policy_version=version,
            )
        except customers.AccountError as exc:
            form.add_error("email", str(exc))
        except ValidationError as exc:
            form.add_error("password", exc)
        else:
            # The same page for a new, an unverified and an existing account (no enumeration).
            return render(request, "portal/auth/register_sent.html")
    return render(
        request,
        "portal/auth/register.html",
        {"form": form, "policy_version": version},
        status=400 if posted else 200,
    )


@never_cache
@secret_path_view(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """Opening the link shows a confirmation form; the password chosen at registration confirms
    it. (A GET changes nothing: mail scanners open links, and only the person who registered may
    confirm, see `customers.verify_email`.)"""
    if customers.verify_link_account(token) is None:
        return _link_invalid(request)
    posted = request.method == "POST"
    form = VerifyForm(request.POST if posted else None)
    if posted and form.is_valid():
        try:
            account = customers.verify_email(
                token=token, password=form.cleaned_data["password"], address=client_address(request)
            )
        except customers.AccountError:
            return _link_invalid(request)
        if account is not None:
            messages.success(request, _("Your email address is confirmed. Welcome!"))
            return _complete_sign_in(
                request, account, via="verification", to=reverse("portal:home")
            )
        form.add_error(
            "password",
            _(
                "That is not the password chosen when registering, or confirming is paused after "
                "too many attempts. If you forgot it, reset your password: that confirms the "
                "address too."
            ),
        )
    return render(request, "portal/auth/verify.html", {"form": form}, status=400 if posted else 200)


# ── Sign in and out ───────────────────────────────────────────────────────────────────────────


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    posted = request.method == "POST"
    raw_next = (request.POST.get("next") if posted else None) or request.GET.get("next") or ""
    next_url = _safe_next(request, raw_next)
    if signed_in_account(request) is not None:
        return redirect(next_url)
    form = LoginForm(request.POST if posted else None)
    if posted and form.is_valid():
        account = customers.check_sign_in(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            address=client_address(request),
        )
        if account is not None:
            return _complete_sign_in(request, account, via="password", to=next_url)
        form.add_error(None, _sign_in_failed())
    return render(
        request,
        "portal/auth/login.html",
        {"form": form, "next": next_url if next_url != reverse("portal:home") else ""},
        status=400 if posted else 200,
    )


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    account = signed_in_account(request)
    if account is not None:
        customers.close_session(account=account, session_key=current_session_key(request))
    request.session.flush()
    forget_cached_account(request)
    messages.info(request, _("You have signed out."))
    return redirect("portal:login")


# ── Forgotten password ────────────────────────────────────────────────────────────────────────


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    posted = request.method == "POST"
    form = ResetRequestForm(request.POST if posted else None)
    if posted and form.is_valid():
        customers.request_password_reset(
            email=form.cleaned_data["email"],
            address=client_address(request),
            links=_links(request),
        )
        # The same page whether or not the account exists, and whether or not a mail was sent.
        return render(request, "portal/auth/password_reset_sent.html")
    return render(
        request,
        "portal/auth/password_reset.html",
        {"form": form},
        status=400 if posted else 200,
    )


@never_cache
@secret_path_view(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, token: str) -> HttpResponse:
    if customers.reset_link_account(token) is None:
        return _link_invalid(request)
    posted = request.method == "POST"
    form = SetPasswordForm(request.POST if posted else None)
    if posted and form.is_valid():
        try:
            customers.reset_password(
                token=token, password=form.cleaned_data["password"], links=_links(request)
            )
        except customers.AccountError:
            return _link_invalid(request)
        except ValidationError as exc:
            form.add_error("password", exc)
        else:
            request.session.flush()  # this browser's session ended with all the others
            forget_cached_account(request)
            messages.success(
                request,
                _(
                    "Your password has been changed and every session of your account has "
                    "ended. Sign in with your new password."
                ),
            )
            return redirect("portal:login")
    return render(
        request,
        "portal/auth/password_reset_confirm.html",
        {"form": form},
        status=400 if posted else 200,
    )


# ── Changing the password (signed in) ─────────────────────────────────────────────────────────


def _locked_message() -> str:
    minutes = max(1, round(throttle.lockout().total_seconds() / 60))
    return ngettext(
        "Too many wrong passwords: changing the password and signing in to your account are "
        "paused for %(minutes)d minute. You are still signed in here. If you forgot your "
        "password, reset it instead.",
        "Too many wrong passwords: changing the password and signing in to your account are "
        "paused for %(minutes)d minutes. You are still signed in here. If you forgot your "
        "password, reset it instead.",
        minutes,
    ) % {"minutes": minutes}


def _keep_signed_in(request: HttpRequest, account: CustomerAccount) -> None:
    """After a password change: a new session key (a copy of the old cookie is worth nothing),
    bound to the new password hash, its row following it. The other sessions ended already."""
    old_key = current_session_key(request)
    request.session.cycle_key()
    new_key = current_session_key(request)
    account.refresh_from_db(fields=["password"])
    request.session[SESSION_HASH] = session_hash(account)
    customers.follow_session_key(account=account, old_key=old_key, new_key=new_key)
    follow_new_session_key(old_key, new_key)  # a staff session in this browser too
    forget_cached_account(request)


@never_cache
@customer_view
@require_http_methods(["GET", "POST"])
def change_password(request: HttpRequest) -> HttpResponse:
    context: CustomerContext = request.customer  # type: ignore[attr-defined]
    posted = request.method == "POST"
    form = ChangePasswordForm(request.POST if posted else None)
    if posted and form.is_valid():
        try:
            outcome = customers.change_password(
                account_id=context.account.pk,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password"],
                session_key=current_session_key(request),
                address=client_address(request),
                links=_links(request),
            )
        except ValidationError as exc:
            form.add_error("new_password", exc)
        except customers.AccountError as exc:
            form.add_error(None, str(exc))
        else:
            if outcome is customers.PasswordChange.CHANGED:
                _keep_signed_in(request, context.account)
                messages.success(
                    request,
                    _(
                        "Your password has been changed. Every other session of your account has "
                        "ended; you are still signed in here."
                    ),
                )
                return redirect("portal:sessions")
            if outcome is customers.PasswordChange.LOCKED:
                # Said plainly, and the session stays: a pause must not look like a sign-out.
                form.add_error("current_password", _locked_message())
            else:
                form.add_error("current_password", _("The current password is wrong."))
    return render(
        request,
        "portal/auth/change_password.html",
        {"form": form, "nav": "sessions"},
        status=400 if posted else 200,
    )


# ── Sessions ──────────────────────────────────────────────────────────────────────────────────


@never_cache
@customer_view
def sessions(request: HttpRequest) -> HttpResponse:
    context: CustomerContext = request.customer  # type: ignore[attr-defined]
    current = current_session_key(request)
    rows = [
        {
            "id": row.pk,
            "created_at": row.created_at,
            "last_seen_at": row.last_seen_at,
            "network": row.client_network,
            "device": describe_device(row.device_label),
            "current": row.session_key == current,
        }
        for row in customers.live_sessions(context.account)
    ]
    return render(request, "portal/auth/sessions.html", {"sessions": rows, "nav": "sessions"})


@require_POST
@customer_view
def revoke_session(request: HttpRequest, session_id: int) -> HttpResponse:
    context: CustomerContext = request.customer  # type: ignore[attr-defined]
    try:
        row = customers.revoke_session(account=context.account, session_id=session_id)
    except customers.SessionNotFound:
        raise Http404(_("There is no such session of your account.")) from None
    if row.session_key == current_session_key(request):
        request.session.flush()
        forget_cached_account(request)
        messages.info(request, _("You ended this session and are signed out."))
        return redirect("portal:login")
    messages.success(request, _("The session has ended. Its next request will need to sign in."))
    return HttpResponseRedirect(reverse("portal:sessions"))
