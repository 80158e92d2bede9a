"""The breach register's state changes (issue 8 item 1; P23). Owner-only in the console.

    open ──report stage sent──▶ reported ──close──▶ closed     (steps recorded all along)

Every change is one transaction that writes the incident's rows, a timeline step and its audit
event together. `due_work` is the worker's job: deadline warnings to the owners (once per clock
and level), then the next batch of customer notices of every incident whose notices started.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import EventSpec, record_event, record_events
from pledge.incidents import notices
from pledge.incidents.clocks import LEVELS, clocks_for
from pledge.incidents.models import (
    Incident,
    IncidentAffected,
    IncidentClock,
    IncidentReport,
    IncidentStatus,
    IncidentStep,
    NoticeStatus,
    ReportStage,
    StepKind,
    System,
)
from pledge.incidents.scope import compute_scope
from pledge.incidents.texts import IncidentInvalid, clean_text
from pledge.vault.access import Actor, policy
from pledge.vault.errors import NotFound, Problem
from pledge.vault.models import Customer

log = logging.getLogger(__name__)

SYSTEM_ACTOR = Actor(kind="system", id="incidents")
# Clock rows one job run warns about per level; the next run takes the rest.
WARN_BATCH = 200
# Incidents whose notices one job run continues.
NOTICE_INCIDENTS = 20
_FUTURE_SLACK = dt.timedelta(minutes=5)


# -- input -------------------------------------------------------------------------------------


def _when(name: str, value: object, *, now: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise IncidentInvalid(
            f"{name} must be a timezone-aware datetime",
            [Problem(name, "type", "not a timezone-aware datetime")],
        )
    if value > now + _FUTURE_SLACK:
        # A detection time in the future would push the legal deadlines out (PDPL Art 23).
        raise IncidentInvalid(
            f"{name} cannot be in the future", [Problem(name, "future", "not in the future")]
        )
    return value


def _keys(name: str, values: object, allowed: Iterable[str], *, required: bool) -> list[str]:
    known = set(allowed)
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise IncidentInvalid(
            f"{name} must be a list of keys", [Problem(name, "type", "not a list of keys")]
        )
    unknown = sorted({v for v in values if v not in known})
    if unknown:
        shown = ", ".join(repr(v[:40]) for v in unknown[:5])
        raise IncidentInvalid(
            f"unknown {name}: {shown}; expected some of: {', '.join(sorted(known))}",
            [Problem(name, "unknown", shown)],
        )
    if required and not values:
        raise IncidentInvalid(f"give at least one of {name}", [Problem(name, "required", "")])
    return sorted(set(values))


def _staff_id(actor: Actor) -> int:
    if actor.kind != "staff" or not actor.id.isdigit():
        raise IncidentInvalid(
            "only a staff member records incidents", [Problem(None, "actor", "not staff")]
        )
    return int(actor.id)


def _get(incident_id: uuid.UUID, *, lock: bool = False) -> Incident:
    found = Incident.objects.select_for_update() if lock else Incident.objects.all()
    incident = found.filter(pk=incident_id).first()
    if incident is None:
        raise NotFound(f"no incident {incident_id}", [Problem("incident", "not_found", "")])
    return incident


def _open(incident: Incident) -> None:
    if incident.status == IncidentStatus.CLOSED:
        raise IncidentInvalid(
            "the incident is closed", [Problem("incident", "closed", "closed incidents stay")]
        )


def _step(
    incident: Incident,
    kind: StepKind,
    event: EventType,
    *,
    actor: Actor,
    at: dt.datetime | None = None,
    text: str = "",
    customer_id: uuid.UUID | None = None,
    **details: Any,
) -> IncidentStep:
    """One timeline step and its audit event (ids and counts only, never a text)."""
    step = IncidentStep.objects.create(
        incident=incident,
        at=at or timezone.now(),
        kind=kind,
        actor=actor.label,
        text=text,
        details=details,
    )
    record_event(
        event,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        record=f"incident:{incident.id}",
        details={"step": kind.value, "drill": incident.drill, **details},
    )
    return step


# -- recording ---------------------------------------------------------------------------------


@transaction.atomic
def record_incident(
    *,
    actor: Actor,
    detected_at: dt.datetime,
    occurred_from: dt.datetime,
    occurred_to: dt.datetime,
    nature: str,
    systems: list[str],
    data_categories: list[str] | None = None,
    actors: str = "",
    place: str = "",
    consequences: str = "",
    measures: str = "",
    advice: str = "",
    customer_data_at_risk: bool = True,
    drill: bool = False,
) -> Incident:
    """Record an incident and start its clocks (P23; GDPR Art 33(5): every breach is logged)."""
    staff_id = _staff_id(actor)
    enforced = policy()
    now = timezone.now()
    detected = _when("detected_at", detected_at, now=now)
    start = _when("occurred_from", occurred_from, now=now)
    end = _when("occurred_to", occurred_to, now=now)
    if start > end:
        raise IncidentInvalid(
            "occurred_from is after occurred_to",
            [Problem("occurred_from", "window", "the window starts after it ends")],
        )
    if start > detected:
        raise IncidentInvalid(
            "the incident cannot start after it was detected",
            [Problem("occurred_from", "after_detection", "starts after detection")],
        )
    incident = Incident.objects.create(
        detected_at=detected,
        occurred_from=start,
        occurred_to=end,
        nature=clean_text("nature", nature, required=True),
        actors=clean_text("actors", actors),
        place=clean_text("place", place),
        consequences=clean_text("consequences", consequences),
        measures=clean_text("measures", measures),
        advice=clean_text("advice", advice),
        systems=_keys("systems", systems, System.values, required=True),
        data_categories=_keys(
            "data_categories",
            data_categories or [],
            [f.key for f in enforced.policy.fields],
            required=False,
        ),
        customer_data_at_risk=bool(customer_data_at_risk),
        drill=bool(drill),
        recorded_by=staff_id,
    )
    specs = clocks_for(enforced, detected, customer_data_at_risk=incident.customer_data_at_risk)
    IncidentClock.objects.bulk_create(
        IncidentClock(
            incident=incident,
            key=s.key,
            hours=s.hours,
            due_at=s.due_at,
            article=s.article,
            summary=s.summary,
            warn_half_at=s.warn_half_at,
            warn_final_at=s.warn_final_at,
        )
        for s in specs
    )
    _step(
        incident,
        StepKind.RECORDED,
        EventType.INCIDENT_RECORDED,
        actor=actor,
        at=now,
        systems=incident.systems,
        clocks={s.key: s.due_at.isoformat() for s in specs},
    )
    return incident


@transaction.atomic
def add_step(*, actor: Actor, incident_id: uuid.UUID, text: str) -> IncidentStep:
    """A measure taken or a fact learnt, on the timeline (the report's "measures taken")."""
    incident = _get(incident_id, lock=True)
    _open(incident)
    cleaned = clean_text("text", text, required=True)
    return _step(incident, StepKind.ACTION, EventType.INCIDENT_UPDATED, actor=actor, text=cleaned)


@transaction.atomic
def update_details(*, actor: Actor, incident_id: uuid.UUID, **texts: str) -> Incident:
    """Correct the report's texts (consequences, measures, advice …) as the facts come in."""
    allowed = ("nature", "actors", "place", "consequences", "measures", "advice")
    incident = _get(incident_id, lock=True)
    _open(incident)
    changed: list[str] = []
    for name, value in texts.items():
        if name not in allowed:
            raise IncidentInvalid(f"unknown text {name!r}", [Problem(name, "unknown", "")])
        cleaned = clean_text(name, value, required=name == "nature")
        if cleaned != getattr(incident, name):
            setattr(incident, name, cleaned)
            changed.append(name)
    if changed:
        incident.save(update_fields=[*changed, "updated_at"])
        _step(incident, StepKind.UPDATED, EventType.INCIDENT_UPDATED, actor=actor, changed=changed)
    return incident


# -- scope -------------------------------------------------------------------------------------


@transaction.atomic
def scope_incident(
    *,
    actor: Actor,
    incident_id: uuid.UUID,
    roles: list[str],
    systems: list[str],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Incident:
    """Compute the affected customers and fields (scope.py) and store them. Scoping again
    replaces the set, but a customer already notified stays (their notice went out)."""
    incident = _get(incident_id, lock=True)
    _open(incident)
    enforced = policy()
    wanted_roles = _keys("roles", roles, enforced.role_keys, required=False)
    wanted_systems = _keys("systems", systems, System.values, required=False)
    if not wanted_roles and not wanted_systems:
        raise IncidentInvalid(
            "give at least one role or system to scope",
            [Problem("roles", "required", "a role or a system")],
        )
    now = timezone.now()
    window_start = _when("start", start or incident.occurred_from, now=now)
    window_end = _when("end", end or incident.occurred_to, now=now)
    if window_start > window_end:
        raise IncidentInvalid(
            "the window starts after it ends", [Problem("start", "window", "start after end")]
        )
    scope = compute_scope(
        start=window_start, end=window_end, roles=wanted_roles, systems=wanted_systems
    )
    existing = {a.customer_id: a for a in IncidentAffected.objects.filter(incident=incident)}
    stale = [
        a.pk for cid, a in existing.items() if cid not in scope.customers and a.notified_at is None
    ]
    IncidentAffected.objects.filter(pk__in=stale).delete()
    changed: list[IncidentAffected] = []
    created: list[IncidentAffected] = []
    for customer_id, fields in scope.customers.items():
        names = sorted(fields)
        row = existing.get(customer_id)
        if row is None:
            created.append(
                IncidentAffected(incident=incident, customer_id=customer_id, fields=names)
            )
        elif row.fields != names:
            row.fields = names
            changed.append(row)
    IncidentAffected.objects.bulk_create(created, batch_size=1000)
    IncidentAffected.objects.bulk_update(changed, ["fields"], batch_size=1000)
    counts = scope.field_counts()
    incident.scope_roles = wanted_roles
    incident.scope_systems = wanted_systems
    incident.scoped_at = now
    incident.affected_count = IncidentAffected.objects.filter(incident=incident).count()
    incident.records_count = scope.records
    incident.field_counts = counts
    incident.data_categories = sorted(set(incident.data_categories) | set(counts))
    incident.save()
    _step(
        incident,
        StepKind.SCOPED,
        EventType.INCIDENT_SCOPED,
        actor=actor,
        at=now,
        roles=wanted_roles,
        systems=wanted_systems,
        start=window_start.isoformat(),
        end=window_end.isoformat(),
        customers=incident.affected_count,
        records=scope.records,
        fields=counts,
    )
    return incident


# -- the authority report ----------------------------------------------------------------------


@transaction.atomic
def record_report(
    *,
    actor: Actor,
    incident_id: uuid.UUID,
    stage: str,
    clock_key: str,
    sent_at: dt.datetime | None = None,
    late_reason: str = "",
) -> IncidentReport:
    """Mark a report stage as sent to the authority of one clock (Decree 356 Art 28: staged
    reports; reasons if late; GDPR Art 33(1), (4))."""
    staff_id = _staff_id(actor)
    incident = _get(incident_id, lock=True)
    _open(incident)
    if stage not in ReportStage.values:
        raise IncidentInvalid(
            f"unknown stage {str(stage)[:40]!r}; expected one of: {', '.join(ReportStage.values)}",
            [Problem("stage", "unknown", "")],
        )
    clock = IncidentClock.objects.filter(incident=incident, key=clock_key).first()
    if clock is None:
        raise IncidentInvalid(
            f"the incident has no clock {str(clock_key)[:80]!r}",
            [Problem("clock", "unknown", "not a clock of this incident")],
        )
    now = timezone.now()
    sent = _when("sent_at", sent_at or now, now=now)
    if sent < incident.detected_at:
        raise IncidentInvalid(
            "a report cannot be sent before the incident was detected",
            [Problem("sent_at", "before_detection", "")],
        )
    late = sent > clock.due_at
    reason = clean_text("late_reason", late_reason, required=late)
    report = IncidentReport.objects.create(
        incident=incident,
        stage=stage,
        clock_key=clock.key,
        sent_at=sent,
        late=late,
        late_reason=reason,
        recorded_by=staff_id,
    )
    if clock.answered_at is None:
        clock.answered_at = sent
        clock.save(update_fields=["answered_at"])
    if incident.status == IncidentStatus.OPEN:
        incident.status = IncidentStatus.REPORTED
        incident.save(update_fields=["status", "updated_at"])
    _step(
        incident,
        StepKind.REPORTED,
        EventType.INCIDENT_AUTHORITY_REPORTED,
        actor=actor,
        at=sent,
        text=reason,
        stage=stage,
        clock=clock.key,
        late=late,
        due_at=clock.due_at.isoformat(),
    )
    return report


# -- customer notices --------------------------------------------------------------------------


@transaction.atomic
def start_notices(*, actor: Actor, incident_id: uuid.UUID) -> int:
    """Start telling the affected customers (P23; GDPR Art 34): the first batch now, the worker
    the rest. Returns how many were handled in this batch."""
    incident = _get(incident_id, lock=True)
    _open(incident)
    if incident.scoped_at is None:
        raise IncidentInvalid(
            "scope the incident first: the notices go to the affected customers",
            [Problem("scope", "not_scoped", "")],
        )
    if incident.notices_started_at is None:
        incident.notices_started_at = timezone.now()
    incident.notices_done_at = None
    incident.save(update_fields=["notices_started_at", "notices_done_at", "updated_at"])
    return _notice_batch(incident, actor=actor)


def _notice_batch(incident: Incident, *, actor: Actor) -> int:
    """Up to PLEDGE_INCIDENT_NOTICE_BATCH customers not yet told; each once, ever (the row's
    `notified_at` compare-and-set, and the outbox's idempotency key per incident+customer)."""
    size = int(settings.PLEDGE_INCIDENT_NOTICE_BATCH)
    rows = list(
        IncidentAffected.objects.select_for_update(skip_locked=True)
        .filter(incident=incident, notified_at__isnull=True)
        .order_by("id")[:size]
    )
    languages = dict(
        Customer.objects.filter(pk__in=[r.customer_id for r in rows]).values_list("id", "language")
    )
    now = timezone.now()
    tally = {s.value: 0 for s in NoticeStatus}
    events: list[EventSpec] = []
    for row in rows:
        claimed = IncidentAffected.objects.filter(pk=row.pk, notified_at__isnull=True).update(
            notified_at=now
        )
        if not claimed:
            continue
        if incident.drill:
            # A drill goes through every step but reads no address and sends nothing.
            status = NoticeStatus.DRILL
        elif notices.customer_notice(
            incident, row.customer_id, languages.get(row.customer_id), list(row.fields)
        ):
            status = NoticeStatus.SENT
            events.append(
                EventSpec(
                    type=EventType.INCIDENT_CUSTOMERS_NOTIFIED,
                    actor=actor.label,
                    actor_role=actor.role,
                    customer_id=row.customer_id,
                    record=f"incident:{incident.id}",
                    fields=tuple(row.fields),
                    details={"step": "notice"},
                )
            )
        else:
            status = NoticeStatus.NO_ADDRESS
        IncidentAffected.objects.filter(pk=row.pk).update(notice_status=status)
        tally[status.value] += 1
    record_events(events)
    handled = sum(tally.values())
    pending = IncidentAffected.objects.filter(incident=incident, notified_at__isnull=True).exists()
    if not pending:
        Incident.objects.filter(pk=incident.pk).update(notices_done_at=now)
    if handled or not pending:
        _step(
            incident,
            StepKind.NOTIFIED,
            EventType.INCIDENT_CUSTOMERS_NOTIFIED,
            actor=actor,
            at=now,
            batch=handled,
            done=not pending,
            outcomes=tally,
        )
    return handled


@transaction.atomic
def _continue_notices(incident_id: uuid.UUID) -> int:
    incident = (
        Incident.objects.select_for_update(skip_locked=True)
        .filter(pk=incident_id, notices_done_at__isnull=True, notices_started_at__isnull=False)
        .first()
    )
    if incident is None or incident.status == IncidentStatus.CLOSED:
        return 0
    return _notice_batch(incident, actor=SYSTEM_ACTOR)


# -- closing -----------------------------------------------------------------------------------


@transaction.atomic
def close_incident(*, actor: Actor, incident_id: uuid.UUID, text: str = "") -> Incident:
    """Close the incident: its clocks stop warning; it stays in the register for good."""
    incident = _get(incident_id, lock=True)
    _open(incident)
    cleaned = clean_text("text", text)
    now = timezone.now()
    incident.status = IncidentStatus.CLOSED
    incident.closed_at = now
    incident.save(update_fields=["status", "closed_at", "updated_at"])
    _step(incident, StepKind.CLOSED, EventType.INCIDENT_CLOSED, actor=actor, at=now, text=cleaned)
    return incident


# -- the worker's job --------------------------------------------------------------------------


@transaction.atomic
def _warn(level: str, now: dt.datetime) -> int:
    warned, due = f"warned_{level}_at", f"warn_{level}_at"
    # PostgreSQL: skip_locked lets two workers share the clocks without waiting or doubling;
    # SQLite serialises writers, and the compare-and-set below makes a second pass a no-op.
    clocks = list(
        IncidentClock.objects.select_for_update(skip_locked=True)
        .filter(answered_at__isnull=True, **{f"{warned}__isnull": True, f"{due}__lte": now})
        .exclude(incident__status=IncidentStatus.CLOSED)
        .select_related("incident")
        .order_by(due, "id")[:WARN_BATCH]
    )
    done = 0
    recipients: list[Any] | None = None
    for clock in clocks:
        claimed = IncidentClock.objects.filter(pk=clock.pk, **{f"{warned}__isnull": True}).update(
            **{warned: now}
        )
        if not claimed:
            continue
        if recipients is None:
            recipients = notices.owners()
        if not recipients:
            log.warning("incident %s clock %s: no owner to warn", clock.incident_id, clock.key)
        told = notices.deadline_warning(clock, level, recipients)
        _step(
            clock.incident,
            StepKind.WARNING,
            EventType.INCIDENT_DEADLINE_WARNING,
            actor=SYSTEM_ACTOR,
            at=now,
            clock=clock.key,
            level=level,
            due_at=clock.due_at.isoformat(),
            owners=told,
        )
        done += 1
    return done


def warn_deadlines(now: dt.datetime) -> int:
    """Warnings before each clock runs out (half time, two hours before), once each."""
    return sum(_warn(level, now) for level in LEVELS)


def continue_notices(now: dt.datetime) -> int:
    """The next batch of customer notices of each incident whose notices started."""
    pending = list(
        Incident.objects.filter(notices_started_at__isnull=False, notices_done_at__isnull=True)
        .exclude(status=IncidentStatus.CLOSED)
        .order_by("notices_started_at")
        .values_list("id", flat=True)[:NOTICE_INCIDENTS]
    )
    return sum(_continue_notices(incident_id) for incident_id in pending)


def due_work(now: dt.datetime) -> int:
    """The worker's job (jobs.py): deadline warnings, then notice batches. Each step is its own
    transaction, so a failure in one leaves the others done."""
    return warn_deadlines(now) + continue_notices(now)
