"""The closed list of audit event types (`source:action`), documented in docs/audit.md.

A test fails when a type is missing from the documentation. Events carry no personal data: only
ids, field names, the purpose, the actor and the outcome (ARCHITECTURE.md, invariants).
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    # vault: personal data (P01, P06, P09)
    CUSTOMER_CREATED = "vault:customer_created"
    CUSTOMER_UPDATED = "vault:customer_updated"
    CUSTOMER_READ = "vault:read"
    CUSTOMER_LOOKUP = "vault:lookup"
    ACCESS_REFUSED = "vault:access_refused"
    WRITE_REFUSED = "vault:write_refused"
    ORDER_PLACED = "vault:order_placed"
    ORDERS_READ = "vault:orders_read"
    INVOICE_ISSUED = "vault:invoice_issued"
    INVOICES_READ = "vault:invoices_read"
    GUARANTEE_ISSUED = "vault:guarantee_issued"
    GUARANTEE_LOOKUP = "vault:guarantee_lookup"
    PAYMENT_AUTHORIZED = "vault:payment_authorized"
    PAYMENT_DECLINED = "vault:payment_declined"
    PAYMENTS_READ = "vault:payments_read"
    ID_DOCUMENT_STORED = "vault:id_document_stored"
    ID_DOCUMENT_READ = "vault:id_document_read"
    ID_DOCUMENT_DELETED = "vault:id_document_deleted"
    STAFF_NOTE_ADDED = "vault:staff_note_added"
    STAFF_NOTES_READ = "vault:staff_notes_read"
    IMPORT_COMPLETED = "vault:import_completed"
    BREAK_GLASS = "vault:break_glass"
    BREAK_GLASS_ACKNOWLEDGED = "vault:break_glass_acknowledged"
    CUSTOMER_RECTIFIED = "vault:rectified"
    ACCOUNT_EMAIL_READ = "vault:account_email_read"
    # keys (vault/keyring.py)
    MASTER_KEY_ROTATED = "keys:master_rotated"
    DATA_KEYS_REWRAPPED = "keys:data_keys_rewrapped"
    # consent ledger (P04, P07, P19, P24)
    CONSENT_GIVEN = "consent:given"
    CONSENT_WITHDRAWN = "consent:withdrawn"
    CONSENT_EXPIRED = "consent:expired"
    COOKIE_CHOICE = "consent:cookie_choice"
    POLICY_ACCEPTED = "consent:policy_accepted"
    # customer accounts of the privacy center (P16, P18)
    CUSTOMER_REGISTERED = "customer:registered"
    CUSTOMER_EMAIL_VERIFIED = "customer:email_verified"
    CUSTOMER_UNVERIFIED_PURGED = "customer:unverified_purged"
    CUSTOMER_LOGIN_SUCCEEDED = "customer:login_succeeded"
    CUSTOMER_LOGIN_FAILED = "customer:login_failed"
    CUSTOMER_LOCKED_OUT = "customer:locked_out"
    CUSTOMER_LOGGED_OUT = "customer:logged_out"
    CUSTOMER_NEW_DEVICE = "customer:new_device"
    CUSTOMER_SESSION_REVOKED = "customer:session_revoked"
    CUSTOMER_PASSWORD_RESET_REQUESTED = "customer:password_reset_requested"  # noqa: S105 - a name
    CUSTOMER_PASSWORD_CHANGED = "customer:password_changed"  # noqa: S105 - a name
    # api keys of the shop's backend
    API_KEY_CREATED = "api:key_created"
    API_KEY_REVOKED = "api:key_revoked"
    API_AUTH_REFUSED = "api:auth_refused"
    # staff accounts and sign-in (P16)
    STAFF_CREATED = "staff:created"
    STAFF_INVITED = "staff:invited"
    STAFF_ROLE_CHANGED = "staff:role_changed"
    STAFF_DISABLED = "staff:disabled"
    STAFF_LOGIN_SUCCEEDED = "staff:login_succeeded"
    STAFF_LOGIN_FAILED = "staff:login_failed"
    STAFF_LOCKED_OUT = "staff:locked_out"
    STAFF_LOGGED_OUT = "staff:logged_out"
    STAFF_SESSION_REVOKED = "staff:session_revoked"
    STAFF_PASSWORD_RESET_REQUESTED = "staff:password_reset_requested"  # noqa: S105 - a name
    STAFF_PASSWORD_CHANGED = "staff:password_changed"  # noqa: S105 - a name
    STAFF_SECOND_FACTOR_ENROLLED = "staff:second_factor_enrolled"
    STAFF_RECOVERY_CODES_GENERATED = "staff:recovery_codes_generated"
    STAFF_RECOVERY_CODE_USED = "staff:recovery_code_used"
    # data-subject requests (issue 6; P18, P20)
    RIGHTS_REQUEST_FILED = "rights:request_filed"
    RIGHTS_REQUEST_EXTENDED = "rights:request_extended"
    RIGHTS_REQUEST_CANCELED = "rights:request_canceled"
    RIGHTS_IDENTITY_CODE_SENT = "rights:identity_code_sent"
    RIGHTS_IDENTITY_VERIFIED = "rights:identity_verified"
    RIGHTS_IDENTITY_FAILED = "rights:identity_failed"
    RIGHTS_REQUEST_APPROVED = "rights:request_approved"
    RIGHTS_REQUEST_DENIED = "rights:request_denied"
    RIGHTS_REQUEST_COMPLETED = "rights:request_completed"
    RIGHTS_EXPORT_DOWNLOADED = "rights:export_downloaded"
    RIGHTS_EXPORT_LINK_CREATED = "rights:export_link_created"
    RIGHTS_RESECURED = "rights:resecured"
    # erasure, restriction and re-keying in the vault (issue 6; P18, P20)
    CUSTOMER_ERASED = "vault:erased"
    CUSTOMER_RESTRICTED = "vault:restricted"
    CUSTOMER_RESTRICTION_LIFTED = "vault:restriction_lifted"
    CUSTOMER_REKEYED = "vault:rekeyed"
    HOLD_EXPIRED = "vault:hold_expired"
    # Complaints desk (issue 7; P21, P22)
    COMPLAINT_FILED = "complaints:filed"
    COMPLAINT_ESCALATED = "complaints:escalated"
    COMPLAINT_SLA_BREACHED = "complaints:sla_breached"
    COMPLAINT_READ = "complaints:read"
    COMPLAINT_ASSIGNED = "complaints:assigned"
    COMPLAINT_NOTE_ADDED = "complaints:note_added"
    COMPLAINT_MESSAGE_SENT = "complaints:message_sent"
    COMPLAINT_CUSTOMER_REPLIED = "complaints:customer_replied"
    COMPLAINT_ANSWERED = "complaints:answered"
    COMPLAINT_COMPENSATED = "complaints:compensated"
    COMPLAINT_CLOSED = "complaints:closed"
    COMPLAINT_REOPENED = "complaints:reopened"
    COMPLAINT_EVIDENCE_STORED = "complaints:evidence_stored"
    COMPLAINT_EVIDENCE_READ = "complaints:evidence_read"
    COMPLAINT_MAIL_REFUSED = "complaints:mail_refused"
    # Incidents, disclosures, aggregates and retention (issue 8; P10, P11, P12, P17, P23)
    INCIDENT_RECORDED = "incidents:recorded"
    INCIDENT_UPDATED = "incidents:updated"
    INCIDENT_SCOPED = "incidents:scoped"
    INCIDENT_DEADLINE_WARNING = "incidents:deadline_warning"
    INCIDENT_AUTHORITY_REPORTED = "incidents:authority_reported"
    INCIDENT_CUSTOMERS_NOTIFIED = "incidents:customers_notified"
    INCIDENT_CLOSED = "incidents:closed"
    DISCLOSURE_MADE = "disclosures:made"
    DISCLOSURE_REFUSED = "disclosures:refused"
    DISCLOSURE_RECIPIENT_NOTIFIED = "disclosures:recipient_notified"
    AGGREGATE_EXPORTED = "disclosures:aggregate_exported"
    RETENTION_SWEEP_STARTED = "retention:sweep_started"
    RETENTION_SWEEP_FINISHED = "retention:sweep_finished"
    RETENTION_NOTICE_SENT = "retention:notice_sent"
    # the audit log itself
    AUDIT_VERIFIED = "audit:verified"
    AUDIT_EXPORTED = "audit:exported"


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"
