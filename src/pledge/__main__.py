"""The `pledge` console command: Django's management entry point with Pledge's settings."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pledge.settings")
    from django.core.management import execute_from_command_line

    from pledge.conf import ImproperlyConfiguredError

    try:
        execute_from_command_line(argv if argv is not None else sys.argv)
    except ImproperlyConfiguredError as exc:
        # Bad settings fail loudly with a clear message, never a traceback.
        sys.stderr.write(f"pledge: configuration error: {exc}\n")
        raise SystemExit(78) from None  # EX_CONFIG
    except BrokenPipeError:
        # `pledge policy check … | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None


if __name__ == "__main__":
    main()
