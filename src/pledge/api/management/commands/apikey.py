"""`pledge apikey …`: create, list and revoke the API keys of the shop's backend."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.timezone import localtime

from pledge.api.models import ApiKey
from pledge.api.services import ApiKeyError, create_api_key, revoke_api_key


class Command(BaseCommand):
    help = "Manage the API keys of the shop's backend."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=ArgumentParser)

        create = sub.add_parser("create", help="create a key and print it (once)")
        create.add_argument("--name", required=True, help="a name for the key, e.g. shop-backend")
        create.add_argument(
            "--purposes",
            required=True,
            help="comma-separated policy purposes the key may act for: order_fulfilment,payment",
        )
        create.add_argument("--role", default="", help="a policy role for sensitive fields")
        create.add_argument("--actor", default="system:cli", help="who creates it (on record)")

        sub.add_parser("list", help="list the keys (never their secrets)")

        revoke = sub.add_parser("revoke", help="revoke a key: its next request is refused")
        revoke.add_argument("name")
        revoke.add_argument("--actor", default="system:cli", help="who revokes it (on record)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                self._create(options)
            elif options["action"] == "list":
                self._list()
            elif options["action"] == "revoke":
                key = revoke_api_key(actor=options["actor"], name=options["name"])
                self.stdout.write(f"revoked {key.name} ({key.prefix})")
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from None

    def _create(self, options: dict[str, Any]) -> None:
        issued = create_api_key(
            actor=options["actor"],
            name=options["name"],
            purposes=options["purposes"].split(","),
            role=options["role"],
        )
        key = issued.key
        self.stderr.write(
            f"created {key.name} ({key.prefix}) for {', '.join(key.purposes)}"
            + (f" with role {key.role}" if key.role else "")
            + ".\nThe key is shown this once: Pledge keeps only its hash. Store it now."
        )
        # Alone on stdout, so `pledge apikey create … > key.txt` captures just the key.
        self.stdout.write(issued.token)

    def _list(self) -> None:
        keys = list(ApiKey.objects.all())
        if not keys:
            self.stdout.write("no API keys")
            return
        for key in keys:
            status = f"revoked {localtime(key.revoked_at):%Y-%m-%d}" if key.revoked_at else "active"
            used = f"{localtime(key.last_used_at):%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            self.stdout.write(
                f"{key.name:24} {key.prefix}  {status:18} last used {used:16}  "
                f"role={key.role or '-'}  purposes={','.join(key.purposes)}"
            )
