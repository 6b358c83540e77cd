"""The outbox worker's loop: a pass over the due messages, a rest when there were none, until told
to stop; every SWEEP_SECONDS, also the sweep that ends overdue impersonations on record. The process
around it (signals, output) lives in the `flask outbox work` command."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from impersonator import clock
from impersonator.extensions import db
from impersonator.logs import database_problem
from impersonator.services.delivery import outbox, senders
from impersonator.services.impersonation import sweep

log = logging.getLogger("impersonator.worker")


def deliver_due() -> outbox.WorkDone:
    """One pass over the messages due now. A database that is restarting or busy costs the pass,
    not the worker: the failure is logged and counted as a pass that did nothing."""
    try:
        return senders.work_once(clock.now(), clock=clock.now)
    except SQLAlchemyError as failure:
        log.error("outbox pass failed: %s", database_problem(failure))
        return outbox.WorkDone()
    finally:
        # Between passes the worker holds no transaction and no connection: on SQLite an open
        # transaction is the write lock (every transaction is BEGIN IMMEDIATE), and with it held
        # every web request waits out the busy timeout and fails.
        db.session.remove()


def sweep_overdue() -> sweep.Swept:
    """One sweep (services/impersonation/sweep.py), surviving a failing database like a pass."""
    try:
        return sweep.sweep(clock.now())
    except SQLAlchemyError as failure:
        log.error("sweep failed: %s", database_problem(failure))
        return sweep.Swept()
    finally:
        db.session.remove()


def run(stop: threading.Event, *, poll_seconds: float, sweep_seconds: float) -> None:
    """Pass after pass until `stop` is set. A pass always finishes its current message; a rest ends
    the moment `stop` is set. Another pass follows at once while there was work, since a pass takes
    at most a batch of the due messages. The sweep runs first, then every `sweep_seconds`."""
    next_sweep = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= next_sweep:
            sweep_overdue()
            next_sweep = time.monotonic() + sweep_seconds
        if deliver_due().total == 0:
            stop.wait(min(poll_seconds, max(0.0, next_sweep - time.monotonic())))
