"""Console sign-in and one's own account (issue 4, P16): sign in with a password and a second
factor, sign out, set up an invited account, reset a forgotten password, and the account page
(sessions, password, recovery codes).

Thin views: forms in `accounts.forms`; every change is an `accounts` service.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.encoding import force_str
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from pledge.accounts import throttle
from pledge.accounts.clients import client_address, user_agent
from pledge.accounts.forms import (
    NewPasswordForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    SecondFactorForm,
    SetupForm,
    SignInForm,
)
from pledge.accounts.identity import self_actor, staff_status
from pledge.accounts.second_factor import enrolment, recovery_codes_left, totp_device
from pledge.accounts.services import (
    StaffError,
    change_password,
    complete_setup,
    regenerate_recovery_codes,
    request_password_reset,
    reset_password,
)
from pledge.accounts.sessions import (
    SessionNotFound,
    end_staff_session,
    follow_new_session_key,
    live_staff_sessions,
    open_staff_session,
    revoke_staff_session,
)
from pledge.accounts.signin import (
    check_password_step,
    check_second_factor,
    make_pending_marker,
    read_pending_marker,
)
from pledge.accounts.tokens import password_reset_tokens, setup_token_user
from pledge.console.access import StaffContext, staff_context, staff_view

PENDING_SESSION_KEY = "pledge_signin_pending"
AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _sign_in_failed() -> str:
    # One message for a wrong email, a wrong password and a lockout, for accounts that exist and
    # for those that do not: the answer must not say which (P16).
    minutes = max(1, round(throttle.lockout().total_seconds() / 60))
    return ngettext(
        "Sign-in failed. Either the email address or the password is wrong, or sign-in is paused "
        "for %(minutes)d minute after too many failed attempts.",
        "Sign-in failed. Either the email address or the password is wrong, or sign-in is paused "
        "for %(minutes)d minutes after too many failed attempts.",
        minutes,
    ) % {"minutes": minutes}


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if (
        value
        and value.startswith("/console/")
        and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return value
    return reverse("console:dashboard")


def _signed_in_staff(request: HttpRequest) -> StaffContext | None:
    user = request.user
    if not user.is_authenticated or not getattr(user, "is_verified", lambda: False)():
        return None
    return staff_context(user)


# ── Sign-in ───────────────────────────────────────────────────────────────────────────────────


@never_cache
@require_http_methods(["GET", "POST"])
def login_password(request: HttpRequest) -> HttpResponse:
    """Step 1: email and password. Success leads to step 2 without signing in yet."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if _signed_in_staff(request) is not None:
        return redirect(_safe_next(request, next_url))
    form = SignInForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        user_id = check_password_step(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            address=client_address(request),
        )
        if user_id is not None:
            request.session[PENDING_SESSION_KEY] = make_pending_marker(
                user_id, _safe_next(request, next_url)
            )
            return redirect("console:login_otp")
        form.add_error(None, _sign_in_failed())
    return render(
        request,
        "console/auth/login.html",
        {"form": form, "next": next_url if next_url.startswith("/console/") else ""},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def login_second_factor(request: HttpRequest) -> HttpResponse:
    """Step 2: a code from the authenticator app or a recovery code; then the session signs in."""
    pending = read_pending_marker(request.session.get(PENDING_SESSION_KEY))
    if pending is None:
        request.session.pop(PENDING_SESSION_KEY, None)
        messages.info(request, _("Your sign-in expired or was not started. Please start again."))
        return redirect("console:login")
    form = SecondFactorForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        address = client_address(request)
        result = check_second_factor(
            user_id=pending.user_id, code=form.cleaned_data["code"], address=address
        )
        if result.device is not None:
            user = User.objects.select_related("staff").get(pk=pending.user_id)
            del request.session[PENDING_SESSION_KEY]
            auth_login(request, user, backend=AUTH_BACKEND)  # a new session key (fixation)
            otp_login(request, result.device)
            open_staff_session(
                user=user,
                session_key=str(request.session.session_key),
                address=address,
                user_agent=user_agent(request),
                method=result.method,
            )
            if result.recovery_code:
                left = recovery_codes_left(user)
                messages.warning(
                    request,
                    ngettext(
                        "You signed in with a recovery code. %(count)d code is left; you can "
                        "generate new ones on your account page.",
                        "You signed in with a recovery code. %(count)d codes are left; you can "
                        "generate new ones on your account page.",
                        left,
                    )
                    % {"count": left},
                )
            return redirect(pending.next_url or reverse("console:dashboard"))
        if result.locked:
            request.session.pop(PENDING_SESSION_KEY, None)
            messages.error(request, _sign_in_failed())
            return redirect("console:login")
        form.add_error(
            None,
            _(
                "That code is wrong or was already used. Enter the code your app shows now, or "
                "an unused recovery code."
            ),
        )
    return render(request, "console/auth/login_verify.html", {"form": form})


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_authenticated and request.session.session_key:
        assert isinstance(user, User)
        end_staff_session(actor=self_actor(user), session_key=request.session.session_key)
    auth_logout(request)
    messages.info(request, _("You have signed out."))
    return redirect("console:login")


# ── Invitation: set up a new account ──────────────────────────────────────────────────────────


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "console/auth/link_invalid.html", status=400)


@never_cache
@require_http_methods(["GET", "POST"])
def setup_account(request: HttpRequest, token: str) -> HttpResponse:
    """The invitee chooses a password, adds Pledge to their authenticator app, confirms a code, and
    sees their recovery codes once."""
    user = setup_token_user(token)
    device = totp_device(user, confirmed=False) if user is not None else None
    if user is None or device is None or staff_status(user) != "invited":
        return _link_invalid(request)
    form = SetupForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            codes = complete_setup(
                user_id=user.pk,
                password=form.cleaned_data["new_password"],
                code=form.cleaned_data["code"],
            )
        except ValidationError as exc:
            form.add_error("new_password", exc)
        except StaffError as exc:
            form.add_error("code", str(exc))
        else:
            return render(
                request,
                "console/auth/recovery_codes.html",
                {"codes": codes, "after_setup": True},
            )
    return render(
        request,
        "console/auth/setup.html",
        {"form": form, "enrolment": enrolment(device), "email": user.email},
    )


# ── Forgotten password ────────────────────────────────────────────────────────────────────────


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        request_password_reset(
            email=form.cleaned_data["email"],
            address=client_address(request),
            reset_url=lambda uidb64, token: request.build_absolute_uri(
                reverse("console:password_reset_confirm", args=[uidb64, token])
            ),
        )
        # The same page whether or not the account exists, and whether or not a mail was sent.
        return render(request, "console/auth/password_reset_sent.html")
    return render(request, "console/auth/password_reset.html", {"form": form})


def _reset_user(uidb64: str, token: str) -> User | None:
    try:
        user_id = int(force_str(urlsafe_base64_decode(uidb64)))
    except (ValueError, TypeError, OverflowError):
        return None
    user = User.objects.select_related("staff").filter(pk=user_id).first()
    if user is None or staff_status(user) != "active":
        return None
    return user if password_reset_tokens.check_token(user, token) else None


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = _reset_user(uidb64, token)
    if user is None:
        return _link_invalid(request)
    form = NewPasswordForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            reset_password(user_id=user.pk, password=form.cleaned_data["new_password"])
        except ValidationError as exc:
            form.add_error("new_password", exc)
        else:
            if request.user.is_authenticated:
                auth_logout(request)
            messages.success(
                request, _("Your password has been changed. Sign in with your new password.")
            )
            return redirect("console:login")
    return render(
        request, "console/auth/password_reset_confirm.html", {"form": form, "email": user.email}
    )


# ── My account ────────────────────────────────────────────────────────────────────────────────


@never_cache
@staff_view()
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Sessions (with revoke), password change and recovery codes of the signed-in staff member."""
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    user = request.user
    assert isinstance(user, User)
    password_form = PasswordChangeForm(user=user)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "revoke":
        return _revoke(request, staff)
    if action == "recovery_codes":
        codes = regenerate_recovery_codes(actor=staff.actor, user_id=user.pk)
        return render(
            request, "console/auth/recovery_codes.html", {"codes": codes, "nav": "account"}
        )
    if action == "password":
        password_form = PasswordChangeForm(request.POST, user=user)
        if password_form.is_valid():
            old_key = str(request.session.session_key or "")
            try:
                changed = change_password(
                    actor=staff.actor,
                    user_id=user.pk,
                    current_password=password_form.cleaned_data["current_password"],
                    new_password=password_form.cleaned_data["new_password"],
                    keep_session_key=old_key,
                )
            except ValidationError as exc:
                password_form.add_error("new_password", exc)
            else:
                if changed:
                    user.refresh_from_db()
                    update_session_auth_hash(request, user)  # keeps this session, new key
                    follow_new_session_key(old_key, str(request.session.session_key or ""))
                    messages.success(
                        request,
                        _("Your password has been changed. Your other sessions have ended."),
                    )
                    return redirect("console:account")
                password_form.add_error("current_password", _("The current password is wrong."))
    return render(
        request,
        "console/auth/account.html",
        {
            "nav": "account",
            "sessions": live_staff_sessions(user),
            "current_key": request.session.session_key,
            "password_form": password_form,
            "codes_left": recovery_codes_left(user),
        },
        status=400 if action == "password" else 200,
    )


def _revoke(request: HttpRequest, staff: StaffContext) -> HttpResponse:
    try:
        session_id = int(request.POST.get("session", ""))
        row = revoke_staff_session(
            actor=staff.actor, user_id=staff.user_id, staff_session_id=session_id
        )
    except (ValueError, SessionNotFound):
        messages.error(request, _("That session has already ended."))
        return redirect("console:account")
    if row.session_key == request.session.session_key:
        auth_logout(request)
        messages.info(request, _("You ended this session and are signed out."))
        return redirect("console:login")
    messages.success(request, _("The session has ended. Its next request will need to sign in."))
    return redirect("console:account")
