"""`pledge staff …`: create the first owner (and other accounts), list them, disable one.

Everyone after the first owner is better invited from the console (/console/staff/): they choose
their own password there. `create` prints the secrets once; Pledge keeps only hashes of the
password and the recovery codes.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.timezone import localtime

from pledge.accounts.identity import find_staff, staff_status
from pledge.accounts.models import StaffProfile
from pledge.accounts.services import StaffError, create_staff, disable_staff
from pledge.vault.access import Actor

CLI = Actor(kind="system", id="cli")


class Command(BaseCommand):
    help = "Manage staff accounts of the console."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=ArgumentParser)

        create = sub.add_parser(
            "create", help="create an account with its authenticator secret and recovery codes"
        )
        create.add_argument("--email", required=True)
        create.add_argument("--role", required=True, help="a role key of the policy in force")
        create.add_argument(
            "--language", default="vi", choices=["vi", "en"], help="language of emails (vi)"
        )
        create.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input (else one is generated)",
        )

        sub.add_parser("list", help="list staff accounts with role and status")

        disable = sub.add_parser("disable", help="disable an account and end its sessions")
        disable.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                self._create(options)
            elif options["action"] == "list":
                self._list()
            elif options["action"] == "disable":
                user = find_staff(options["email"])
                if user is None or not hasattr(user, "staff"):
                    raise CommandError(f"no staff account {options['email']!r}")
                disable_staff(actor=CLI, user_id=user.pk)
                self.stdout.write(f"disabled {user.email}; its sessions have ended")
        except StaffError as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError("the password is too weak: " + " ".join(exc.messages)) from None

    def _create(self, options: dict[str, Any]) -> None:
        password = None
        if options["password_stdin"]:
            stdin = options.get("stdin") or sys.stdin
            password = stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: standard input gave no password")
        new = create_staff(
            actor=CLI,
            email=options["email"],
            role=options["role"],
            language=options["language"],
            password=password,
        )
        out = self.stdout
        out.write(f"Created the staff account {new.user.email} with the role {options['role']}.")
        out.write("Everything below is shown this once: Pledge keeps only hashes of the password")
        out.write("and the recovery codes. Hand it to the account's owner over a safe channel.")
        out.write("")
        if new.password is not None:
            out.write(f"Password:      {new.password}")
        out.write(f"TOTP secret:   {new.enrolment.secret}")
        out.write(f"otpauth URI:   {new.enrolment.uri}")
        out.write("")
        out.write("Scan with an authenticator app:")
        out.write(new.enrolment.terminal_qr)
        out.write("Recovery codes (each works once, instead of a code from the app):")
        for code in new.recovery_codes:
            out.write(f"  {code}")
        out.write("")
        out.write(
            "Sign in at /console/login/ with the email, the password and a code from the app."
        )

    def _list(self) -> None:
        profiles = StaffProfile.objects.select_related("user").order_by("user__email")
        if not profiles:
            self.stdout.write("no staff accounts; create the first with `pledge staff create`")
            return
        for profile in profiles:
            user: User = profile.user
            last = f"{localtime(user.last_login):%Y-%m-%d %H:%M}" if user.last_login else "never"
            self.stdout.write(
                f"{user.email:40} {profile.role:20} {staff_status(user):9} last sign-in {last}"
            )
