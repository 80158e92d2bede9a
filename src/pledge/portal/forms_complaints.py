"""The privacy center's complaint forms (issue 7 item 4; P21, P22). The signed-in customer needs
no email, no honeypot and no time token: the account says who complains, and the sign-in is the
spam barrier. The fields and their checks are the public form's (pledge.complaints.forms)."""

from __future__ import annotations

from pledge.complaints.forms import ComplaintForm, ReopenForm, ReplyForm


class NewComplaintForm(ComplaintForm):
    """The complaint's text and, when the policy accepts evidence, one file."""


__all__ = ["NewComplaintForm", "ReopenForm", "ReplyForm"]
