"""`pledge demo`: set up a demo shop from a preset and serve it on 127.0.0.1."""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings

from pledge.accounts.demo import seed_demo_staff
from pledge.accounts.services import StaffError
from pledge.api.services import ApiKeyError
from pledge.demoshop.keys import KeyUnsafe, ensure_storefront_key
from pledge.demoshop.storefront import key_purposes
from pledge.jobs import JOBS
from pledge.policy.enforcement import NoPolicyInForce, clear_policy_cache, enforced_policy
from pledge.policy.loader import PolicyInvalid, load_policy, preset_names
from pledge.policy.models import PolicyVersion
from pledge.policy.services import publish_policy
from pledge.vault.demo_data import DemoDataUnavailable, demo_customers_exist, seed_demo_customers
from pledge.vault.errors import VaultError


class Command(BaseCommand):
    help = "Migrate the database, publish a preset's policy and serve the demo shop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--preset", default="leman-jewelry", help="one of `pledge policy presets`"
        )
        parser.add_argument("--no-serve", action="store_true", help="set up, print the URLs, stop")
        parser.add_argument("--addr", default="127.0.0.1", help="address to serve on")
        parser.add_argument("--port", default=8000, type=int, help="port to serve on")
        parser.add_argument(
            "--mail-port",
            default=2525,
            type=int,
            help="port of the complaints mail-in listener (pledge mail-in); 0 for none",
        )
        parser.add_argument(
            "--customers",
            default=300,
            type=int,
            help="synthetic customers to create, with orders (default 300; 0 for none)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        preset = options["preset"]
        if preset not in preset_names():
            raise CommandError(f"no preset {preset!r}; presets: {', '.join(preset_names())}")
        if options["customers"] < 0:
            raise CommandError("--customers must be 0 or more")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        try:
            loaded = load_policy(preset)
        except PolicyInvalid as exc:  # a broken bundled preset is our bug: say it plainly
            raise CommandError(f"preset {preset} is invalid: {exc.problems[0]}") from None
        existing = PolicyVersion.objects.filter(
            shop=loaded.policy.shop, content_hash=loaded.content_hash
        ).first()
        if existing is None:
            version = publish_policy(loaded, actor="pledge demo")
            self.stdout.write(f"published {preset} version {version.version!r}")
        else:
            self.stdout.write(f"{preset} version {existing.version!r} already published")
        self._seed(loaded.policy.shop, options["customers"])
        self._seed_staff(loaded.policy.shop)
        self._storefront_key(loaded.policy.shop)
        base = f"http://{options['addr']}:{options['port']}"
        self.stdout.write("")
        self.stdout.write(f"Pledge demo shop: {loaded.policy.name}")
        self.stdout.write(f"  demo storefront:     {base}/demo-shop/")
        self.stdout.write(f"  privacy center:      {base}/me/register/")
        self.stdout.write(f"  privacy policy (vi): {base}/privacy/?lang=vi")
        self.stdout.write(f"  privacy policy (en): {base}/privacy/?lang=en")
        self.stdout.write(f"  REST API docs:       {base}/api/v1/docs")
        self.stdout.write(f"  staff console:       {base}/console/")
        self.stdout.write(f"  health check:        {base}/healthz")
        self.stdout.write("")
        self.stdout.write(
            "  an API key for the shop's backend: "
            ".venv/bin/pledge apikey create --name backend --purposes order_fulfilment"
        )
        self.stdout.write("")
        if options["no_serve"]:
            return
        # The server below runs in this process: serve this preset's shop even when the demo
        # database also holds another preset published by an earlier `make demo PRESET=…`.
        settings.PLEDGE_SHOP = loaded.policy.shop
        settings.PLEDGE_PUBLIC_URL = settings.PLEDGE_PUBLIC_URL or base
        self._start_worker()
        self._start_mail_in(options["addr"], options["mail_port"])
        call_command(
            "runserver", f"{options['addr']}:{options['port']}", use_reloader=False, verbosity=1
        )

    def _start_mail_in(self, addr: str, port: int) -> None:
        """Complaints by email (issue 7): the listener the shop's mail server forwards to, on
        this machine (`swaks --server 127.0.0.1:2525 --to complaints@shop --from …`)."""
        if not port:
            return
        from pledge.complaints.mailin import MailInController

        controller = MailInController(host=addr, port=port, lmtp=False)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            self.stdout.write(f"  complaints by email: not started ({type(exc).__name__})")
            return
        self.stdout.write(f"  complaints by email: SMTP {addr}:{port} (pledge mail-in)")

    def _start_worker(self) -> None:
        """The demo's background jobs (the email outbox above all) in a thread of this process.

        A demo machine has no mail server: unless PLEDGE_EMAIL_HOST is set, emails (the
        privacy center's verification link, new-device notices…) are printed in this terminal.
        """
        from pledge.management.commands.worker import Command as Worker
        from pledge.management.commands.worker import load_job

        if not os.environ.get("PLEDGE_EMAIL_HOST") and not os.environ.get("PLEDGE_EMAIL_BACKEND"):
            settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
            self.stdout.write("  emails are printed here (set PLEDGE_EMAIL_HOST to send them)")
        jobs = [(path, load_job(path)) for path in JOBS]
        stopping = threading.Event()
        worker = Worker()

        def loop() -> None:
            while not stopping.wait(2.0):
                worker.run_round(jobs, stopping)

        threading.Thread(target=loop, name="pledge-demo-worker", daemon=True).start()

    def _seed(self, shop: str, count: int) -> None:
        """Synthetic customers, written through the vault services (encrypted and audited)."""
        if count == 0:
            return
        if demo_customers_exist():
            self.stdout.write("demo customers already created")
            return
        # Seed under this preset's policy even when the database holds another shop's too,
        # without changing the setting for anything else in this process.
        with override_settings(PLEDGE_SHOP=shop):
            clear_policy_cache()
            try:
                created = seed_demo_customers(count)
            except DemoDataUnavailable as exc:
                raise CommandError(str(exc)) from None
            except VaultError as exc:
                # e.g. a preset whose policy is not in force yet: the shop is still worth serving.
                problem = exc.problems[0].message if exc.problems else exc.message
                self.stderr.write(f"no demo customers created: {problem}")
                return
            finally:
                clear_policy_cache()
        if created:
            self.stdout.write(f"created {created} demo customers with orders")
        else:
            self.stdout.write("no demo customers: the policy declares no purpose to collect them")

    def _storefront_key(self, shop: str) -> None:
        """The demo storefront's API key (/demo-shop/ sends its checkout through the API)."""
        with override_settings(PLEDGE_SHOP=shop):
            clear_policy_cache()
            try:
                policy = enforced_policy().policy
                key = ensure_storefront_key(actor="system:demo", purposes=key_purposes(policy))
            except (NoPolicyInForce, ApiKeyError, KeyUnsafe) as exc:
                self.stderr.write(f"no API key for the demo storefront: {exc}")
                return
            finally:
                clear_policy_cache()
        if key.created:
            # The secret goes to the file only: never printed, never logged.
            self.stdout.write(
                f"created the demo storefront's API key {key.name} ({key.prefix}) for "
                f"{', '.join(key.purposes)}, saved in {key.path} (mode 0600)"
            )
        else:
            self.stdout.write(f"the demo storefront uses its API key {key.name} ({key.prefix})")

    def _seed_staff(self, shop: str) -> None:
        """One staff account per policy role, its credentials printed: DEMO ONLY."""
        with override_settings(PLEDGE_SHOP=shop):
            clear_policy_cache()
            try:
                accounts = seed_demo_staff()
            except (NoPolicyInForce, StaffError) as exc:
                self.stderr.write(f"no demo staff accounts created: {exc}")
                return
            finally:
                clear_policy_cache()
        banner = "=" * 78
        self.stdout.write("")
        self.stdout.write(banner)
        self.stdout.write(
            "DEMO ONLY: staff accounts with published credentials. Never use them, or"
        )
        self.stdout.write("`pledge demo`, on a real shop's database.")
        self.stdout.write(banner)
        for account in accounts:
            self.stdout.write(f"  role {account.role} (DEMO ONLY)")
            self.stdout.write(f"    email:       {account.email}")
            self.stdout.write(f"    password:    {account.password}")
            self.stdout.write(f"    TOTP secret: {account.totp_secret}")
            self.stdout.write(f"    otpauth URI: {account.otpauth_uri}")
        self.stdout.write("  sign in at /console/login/ with a code from an authenticator app")
        self.stdout.write("  (add the otpauth URI to one; on a shell: oathtool --totp -b SECRET)")
        self.stdout.write(banner)
