"""The background jobs `pledge worker` runs, in this order, every PLEDGE_WORKER_INTERVAL_SECONDS.

Each is a dotted path to `job(now: datetime) -> int` (how much it did). Every job must be safe
with several workers running at once and after a crash in the middle (ARCHITECTURE.md, jobs).
"""

JOBS: list[str] = [
    # deliver due outbox messages, with retries and back-off (notify/)
    "pledge.notify.delivery.deliver_due",
    # cookie choices older than PLEDGE_COOKIE_CONSENT_DAYS expire (consent/)
    "pledge.consent.services.expire_due",
    # unverified customer accounts older than PLEDGE_VERIFY_EMAIL_SECONDS are removed (accounts/)
    "pledge.accounts.customers.purge_unverified",
    # destroy data keys whose shred a crash interrupted after the database commit (vault/)
    "pledge.vault.shred.flush_shreds_job",
    # legal holds of erased customers that ended: the held values and their key go (vault/)
    "pledge.vault.erasure.expire_holds_job",
    # encrypted files no row names any more: rolled-back uploads and re-keys (vault/)
    "pledge.vault.documents.remove_orphan_files_job",
    # complaint evidence files no row names any more: rolled-back uploads and re-keys (complaints/)
    "pledge.complaints.evidence.remove_orphan_files_job",
    # public-form requests whose one-time code died unverified are canceled (rights/)
    "pledge.rights.identity.cancel_abandoned",
    # complaints at 50 % / 80 % of their SLA escalate to the owner; breaches are recorded (P21)
    "pledge.complaints.services.escalate_due",
    # incident clocks warn the owners at half time and 2 h before; notice batches go on (P23)
    "pledge.incidents.services.due_work",
    # once a day: what the policy's retention rules make due is deleted or crypto-shredded; an
    # interrupted run is taken up where it stopped, a turn at a time (retention/; P17)
    "pledge.retention.sweep.sweep_due",
]
