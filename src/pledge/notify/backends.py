"""Placeholder: the notify helper writes the crash-safe SMTP backend here."""

from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

__all__ = ["SMTPBackend"]
