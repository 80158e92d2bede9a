"""Exactly once across crashes and competing workers (issue 5, acceptance): real `pledge worker`
processes, killed with SIGKILL by the SMTP server itself at the worst moments.

- Killed after the server received the final "." but before the worker could record it: the
  server holds one copy, and the next worker marks the message sent without sending it again.
- Killed earlier (at RCPT): the server drops the unfinished transaction; the next worker sends the
  message, once.
- A worker whose lease ran out while it was stalled finds, at the hand-over, that another worker
  sent the message: it abandons its SMTP transaction before ".", and nothing arrives twice.
- Two workers at once send every message once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading

from pledge.notify.delivery import UNCONFIRMED
from tests.notify.installation import Installation, finished, rows_by_key
from tests.smtp import SMTPServer, body_of


def kill_on_cue(victim: list[subprocess.Popen[str]]) -> None:
    """SIGKILL the worker, from inside the SMTP server, before it answers the command."""
    os.kill(victim[0].pid, signal.SIGKILL)


def test_a_worker_killed_after_the_final_dot_delivers_once_not_twice(
    installation: Installation, smtp_server: SMTPServer
) -> None:
    [message_id] = installation.enqueue(url="https://privacy.shop.example/reset/once/")
    victim: list[subprocess.Popen[str]] = []
    # The server has read the whole message and its final "."; the worker is waiting for the 250.
    smtp_server.on_data.append(lambda: kill_on_cue(victim))
    victim.append(installation.worker())
    code, _ = finished(victim[0])
    assert code == -signal.SIGKILL

    [received] = smtp_server.mailbox.messages
    assert "https://privacy.shop.example/reset/once/" in body_of(received)
    [row] = installation.rows()
    # Committed before the final ".": the row says the message may be at the server.
    assert (row["id"], row["status"], row["attempts"]) == (message_id, "handed_over", 1)

    # A worker started before the lease ran out leaves it alone (its owner may be alive)…
    code, log = finished(installation.worker())
    assert code == 0, log
    assert installation.rows()[0]["status"] == "handed_over"
    # …and once it ran out, the message is recorded as sent, and not sent again.
    assert installation.let_leases_run_out() == 1
    code, log = finished(installation.worker())
    assert code == 0, log
    assert "marked sent, unconfirmed" in log
    [row] = installation.rows()
    assert row["status"] == "sent" and row["last_error"] == UNCONFIRMED
    assert not row["sealed"] and not row["wrapped_key"]
    assert smtp_server.mailbox.messages == [received]
    assert smtp_server.sessions == 1


def test_a_worker_killed_before_the_hand_over_delivers_on_the_next_run(
    installation: Installation, smtp_server: SMTPServer
) -> None:
    installation.enqueue(url="https://privacy.shop.example/reset/later/")
    victim: list[subprocess.Popen[str]] = []
    smtp_server.on_rcpt.append(lambda: kill_on_cue(victim))
    victim.append(installation.worker())
    code, _ = finished(victim[0])
    assert code == -signal.SIGKILL
    assert smtp_server.mailbox.messages == []
    [row] = installation.rows()
    assert (row["status"], row["attempts"], row["sealed"]) == ("sending", 1, True)

    assert installation.let_leases_run_out() == 1
    code, log = finished(installation.worker())
    assert code == 0, log
    [row] = installation.rows()
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, "")
    [received] = smtp_server.mailbox.messages
    assert "https://privacy.shop.example/reset/later/" in body_of(received)
    assert smtp_server.sessions == 2  # the killed transaction began, and was dropped


def test_a_worker_that_lost_its_lease_abandons_its_transaction(
    installation: Installation, smtp_server: SMTPServer
) -> None:
    installation.enqueue()
    stalled = threading.Event()
    release = threading.Event()

    async def stall() -> None:
        stalled.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 30)

    # Worker A stalls at RCPT (a slow server) long enough for its lease to run out.
    smtp_server.on_rcpt.append(stall)
    slow = installation.worker()
    assert stalled.wait(30)
    installation.let_leases_run_out()
    # Worker B takes the message over and sends it.
    code, log = finished(installation.worker())
    assert code == 0, log
    assert len(smtp_server.mailbox.messages) == 1
    [row] = installation.rows()
    assert row["status"] == "sent" and row["attempts"] == 2
    # A resumes, sends the body, and loses the hand-over: it drops the connection before ".".
    release.set()
    code, log = finished(slow)
    assert code == 0, log
    assert "taken over by another worker" in log
    assert smtp_server.sessions == 2
    assert len(smtp_server.mailbox.messages) == 1
    assert installation.rows()[0]["status"] == "sent"


def test_two_workers_at_once_send_every_message_once(
    installation: Installation, smtp_server: SMTPServer
) -> None:
    count = 25  # more than two claim batches
    installation.enqueue(count)
    met = 0

    async def meet() -> None:
        # The first delivery of each worker waits for the other's: both are sending at once.
        nonlocal met
        met += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while met < 2 and loop.time() < deadline:
            await asyncio.sleep(0.01)

    smtp_server.on_rcpt.extend([meet, meet])
    workers = [installation.worker(), installation.worker()]
    for worker in workers:
        code, log = finished(worker)
        assert code == 0, log
    assert met == 2

    received = smtp_server.mailbox.messages
    assert len(received) == count
    assert len({m["Message-ID"] for m in received}) == count
    rows = rows_by_key(installation)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert {r["attempts"] for r in rows.values()} == {1}
    # Both workers sent some.
    assert len({r["worker"] for r in rows.values()}) == 2
