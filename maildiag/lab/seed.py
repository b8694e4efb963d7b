"""The lab's demo accounts: kari@ every demo domain, and the staff accounts of visma.example.

Lab only: every account gets the documented demo password (``labkit.LAB_PASSWORD``), which is
why the app refuses lab data outside ``--lab``. Seeding is idempotent: an account that exists
is left as it is (its password may have been changed in a demo).
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import reset
from maildiag.db import create_engine, migrate
from maildiag.lab.feedback import seed_lab_reports
from maildiag.lab.kit import LAB_PASSWORD
from maildiag.lab.zones import DEMO_DOMAINS, STAFF_DOMAIN
from maildiag.settings import Settings

log = logging.getLogger(__name__)


def lab_accounts() -> tuple[tuple[str, str], ...]:
    """``(address, role)`` of every lab account, in a stable order."""
    users = tuple((f"kari@{domain}", "user") for domain in DEMO_DOMAINS)
    staff = ((f"support@{STAFF_DOMAIN}", "support"), (f"admin@{STAFF_DOMAIN}", "admin"))
    return users + staff


def seed_lab_accounts(
    session: Session,
    *,
    hasher: reset.PasswordHasher,
    now: dt.datetime,
    password: str = LAB_PASSWORD,
) -> list[str]:
    """Create the lab accounts that are missing; returns the addresses created."""
    created = []
    for address, role in lab_accounts():
        if reset.find_user(session, address) is not None:
            continue
        reset.create_user(
            session, address, password, hasher=hasher, now=now, role=role, language="nb"
        )
        created.append(address)
    log.info("lab.seeded created=%s", len(created))
    return created


def prepare_lab_database(settings: Settings, engine: sa.Engine | None = None) -> list[str]:
    """Migrate the lab database, seed its accounts and import the demo receivers' reports of
    the last week (blocking; run it in a thread).

    Raises ValueError outside the lab, so demo passwords never reach a real database.
    """
    if not settings.lab:
        raise ValueError("demo accounts are only created in the lab")
    own = engine is None
    engine = engine or create_engine(settings.database)
    try:
        migrate(engine)
        with sessionmaker(engine)() as session, session.begin():
            created = seed_lab_accounts(
                session, hasher=reset.PasswordHasher(), now=dt.datetime.now(dt.UTC)
            )
        seed_lab_reports(engine)
        return created
    finally:
        if own:
            engine.dispose()
