"""The second factor: an authenticator app (django-otp `TOTPDevice`) and recovery codes (django-otp
`StaticDevice` tokens, each usable once).

Recovery codes are 80 random bits shown as `abcd-efgh-ijkl-mnop`. django-otp would keep them in
clear text; Pledge stores only a digest of each (truncated SHA-256, 80 bits), so a copy of the
database does not hand out working codes. The digest is unkeyed on purpose: rotating
PLEDGE_SECRET_KEY must not void the codes someone keeps in a drawer.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass

import segno
from django.contrib.auth.models import User
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "authenticator"
RECOVERY_DEVICE_NAME = "recovery codes"

_TOTP_RE = re.compile(r"\d{6}")
_RECOVERY_RE = re.compile(r"[a-z2-7]{16}")


@dataclass(frozen=True)
class Enrolment:
    """What a person needs to add Pledge to their authenticator app."""

    secret: str  # base32, grouped by four for reading aloud or typing
    uri: str  # otpauth://totp/…
    qr_data_uri: str  # an SVG image as a data: URI (CSP allows data: images)

    @property
    def terminal_qr(self) -> str:
        import io

        out = io.StringIO()
        segno.make(self.uri, error="m").terminal(out=out, compact=True)
        return out.getvalue()


def enrolment(device: TOTPDevice) -> Enrolment:
    raw = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    secret = " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))
    uri = str(device.config_url)
    qr = segno.make(uri, error="m")
    return Enrolment(
        secret=secret,
        uri=uri,
        qr_data_uri=qr.svg_data_uri(scale=5, border=4, dark="#000", light="#fff"),
    )


def new_totp_device(user: User, *, confirmed: bool) -> TOTPDevice:
    """A fresh authenticator secret for the user, replacing any earlier one."""
    TOTPDevice.objects.filter(user=user).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=confirmed)


def totp_device(
    user: User, *, confirmed: bool | None = True, for_update: bool = False
) -> TOTPDevice | None:
    devices = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        devices = devices.filter(confirmed=confirmed)
    if for_update:
        devices = devices.select_for_update()
    return devices.first()


def current_totp(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code the authenticator app shows now (for the CLI and tests)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def recovery_digest(code: str) -> str:
    """What is stored for a recovery code: 16 base32 characters of SHA-256 (80 bits)."""
    digest = hashlib.sha256(b"pledge recovery code\x00" + code.encode("ascii")).digest()
    return base64.b32encode(digest).decode("ascii")[:16].lower()


def normalise_code(text: str) -> str:
    return "".join(c for c in text.lower() if c not in " -\t")


def looks_like_totp(code: str) -> bool:
    return bool(_TOTP_RE.fullmatch(code))


def looks_like_recovery_code(code: str) -> bool:
    return bool(_RECOVERY_RE.fullmatch(code))


def issue_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new ones; returns them (the only
    time they exist in clear)."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=recovery_digest(normalise_code(c))) for c in codes
    )
    return codes


def recovery_codes_left(user: User) -> int:
    count: int = StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
    return count


def verify_code(user: User, text: str) -> tuple[Device | None, bool]:
    """(the device that accepted the code, whether it was a recovery code). Runs in the caller's
    transaction; the device rows are locked so that one code cannot be used twice at once."""
    code = normalise_code(text)
    if looks_like_totp(code):
        device = totp_device(user, for_update=True)
        if device is not None and device.verify_token(code):
            return device, False
        return None, False
    if looks_like_recovery_code(code):
        static = StaticDevice.objects.filter(user=user, confirmed=True).select_for_update().first()
        if static is not None and static.verify_token(recovery_digest(code)):
            return static, True
        return None, True
    return None, False
