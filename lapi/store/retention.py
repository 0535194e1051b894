"""The retention job: erase what the rules of :mod:`lapi.retention` say is expired, log it.

Per UTC day of reads (a ``plate_reads`` partition on plain PostgreSQL), in one transaction: the
expired reads are those past their class's cutoff and under no hold in force; the hits and
alerts of expired hit reads go with them (an alert carries the plate) and so do passes left with
neither reads nor hits.  When every row of the day is expired the partition is dropped whole,
otherwise the expired rows are deleted (the edges).  Each transaction that erases something also
writes its audit row (action ``erasure``, counts per class), so nothing is erased untraced, and
drops the day's plate summary (lapi/store/plate_days.py), which would otherwise outlive the reads.
Under TimescaleDB the days are the hypertable's one-day chunks, and a wholly expired one goes
with ``drop_chunks`` (lapi/store/timescale.py says why this is not a TimescaleDB retention policy).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection, sql

from lapi.retention import RetentionRules, day_bounds, day_fate, describe
from lapi.store.audit import AuditEntry, AuditLog
from lapi.store.partitions import reading_days
from lapi.store.periodic import job_lock, run_periodically
from lapi.store.plate_days import day_lock, forget_day
from lapi.store.read_classes import held_read, hit_read
from lapi.store.timescale import drop_chunk_statement

if TYPE_CHECKING:
    from lapi.store.db import Store

log = logging.getLogger(__name__)

JOB_LOCK = 0x1A9106  # advisory lock: one retention run at a time, across processes
PRINCIPAL = "retention-job"

_DOOMED = (
    "INSERT INTO doomed SELECT x.id, x.read_at, x.pass_id, x.hit FROM ("
    f" SELECT r.id, r.read_at, r.pass_id, r.plate_norm, {hit_read('r')} AS hit FROM plate_reads r"
    "  WHERE r.read_at >= %(s)s AND r.read_at < %(e)s) x"
    " WHERE x.read_at < CASE WHEN x.hit THEN %(hit_cut)s ELSE %(non_hit_cut)s END"
    f" AND NOT {held_read('x')}")


@dataclass
class Erased:
    """What one run erased."""

    non_hit_reads: int = 0
    hit_reads: int = 0
    hits: int = 0
    alerts: int = 0
    passes: int = 0
    partitions_dropped: list[str] = field(default_factory=list)

    def add(self, other: Erased) -> None:
        for name in ("non_hit_reads", "hit_reads", "hits", "alerts", "passes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.partitions_dropped += other.partitions_dropped

    def counts(self) -> dict[str, int]:
        return {"non_hit_reads": self.non_hit_reads, "hit_reads": self.hit_reads, "hits": self.hits,
                "alerts": self.alerts, "passes": self.passes}

    @property
    def anything(self) -> bool:
        return any(self.counts().values()) or bool(self.partitions_dropped)


class RetentionJob:
    def __init__(self, store: Store, rules: RetentionRules) -> None:
        self.store = store
        self.rules = rules
        self.audit = AuditLog(store)

    async def run(self, now: datetime | None = None) -> dict[str, Any]:
        """One pass over every day that may hold expired reads; returns what was erased."""
        now = now or datetime.now(timezone.utc)
        non_hit_cut, hit_cut = self.rules.cutoffs(now)
        total = Erased()
        frame_keys = 0
        async with self.store.pool.connection() as conn, job_lock(conn, JOB_LOCK, wait=False) as held:
            if not held:
                return {"skipped": "another retention run is in progress"}
            for day, partition in await reading_days(conn, self.store.partitions.timescale):
                fate = day_fate(day, self.rules, now)
                if fate == "keep":
                    continue
                start, end = day_bounds(day)
                total.add(await self._erase(conn, start, min(end, max(non_hit_cut, hit_cut)), now,
                                            partition if fate == "drop" else None, day))
            total.add(await self._erase_rule_alerts(conn, now))
            cur = await conn.execute("DELETE FROM frame_keys WHERE read_at < %s", (max(non_hit_cut, hit_cut),))
            frame_keys = cur.rowcount  # retry keys: no data in them, no use once their reads may be gone
        if total.anything:
            log.info("retention: erased %s; partitions dropped: %s", total.counts(),
                     ", ".join(total.partitions_dropped) or "none")
        return {"at": now.isoformat(), "non_hit_cutoff": non_hit_cut.isoformat(), "hit_cutoff": hit_cut.isoformat(),
                "rules": {"non_hit_reads": describe(self.rules.non_hit), "hit_reads": describe(self.rules.hit)},
                **total.counts(), "partitions_dropped": total.partitions_dropped, "frame_keys": frame_keys}

    async def _erase(self, conn: AsyncConnection, start: datetime, end: datetime, now: datetime,
                     partition: str | None, day: date | None = None) -> Erased:
        """Erase the expired reads of [start, end) and what hangs on them, in one transaction;
        ``partition``: drop it instead of deleting when every row of it is expired."""
        non_hit_cut, hit_cut = self.rules.cutoffs(now)
        params = {"s": start, "e": end, "now": now, "non_hit_cut": non_hit_cut, "hit_cut": hit_cut}
        erased = Erased()
        async with conn.transaction():
            if day is not None:  # not while the day's plate summary is being written (lapi/store/plate_days.py)
                await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", day_lock(day))
            await conn.execute("SELECT set_config('lapi.erasure', 'retention', true)")
            await conn.execute("CREATE TEMP TABLE doomed (id bigint, read_at timestamptz, pass_id bigint, hit boolean)"
                               " ON COMMIT DROP")
            await conn.execute(_DOOMED, params)
            cur = await conn.execute("SELECT count(*) FILTER (WHERE NOT hit), count(*) FILTER (WHERE hit) FROM doomed")
            erased.non_hit_reads, erased.hit_reads = await cur.fetchone()
            if erased.hit_reads:
                await conn.execute(
                    "CREATE TEMP TABLE doomed_hits ON COMMIT DROP AS SELECT h.id FROM hits h"
                    " WHERE (h.read_at, h.read_id) IN (SELECT read_at, id FROM doomed WHERE hit)"
                    " OR h.pass_id IN (SELECT pass_id FROM doomed WHERE hit AND pass_id IS NOT NULL)")
                cur = await conn.execute(
                    "WITH a AS (SELECT o.id FROM alert_outbox o WHERE o.hit_id IN (SELECT id FROM doomed_hits)"
                    "  OR o.revises_hit_id IN (SELECT id FROM doomed_hits)),"
                    " d AS (DELETE FROM alert_deliveries WHERE alert_id IN (SELECT id FROM a))"
                    " DELETE FROM alert_outbox WHERE id IN (SELECT id FROM a)")
                erased.alerts = cur.rowcount
                cur = await conn.execute("DELETE FROM hits WHERE id IN (SELECT id FROM doomed_hits)")
                erased.hits = cur.rowcount
            doomed = erased.non_hit_reads + erased.hit_reads
            whole = False
            if partition is not None:
                cur = await conn.execute("SELECT count(*) FROM plate_reads WHERE read_at >= %(s)s AND read_at < %(e)s",
                                         params)  # the whole day: a dropped day is wholly expired
                whole = (await cur.fetchone())[0] == doomed
            if whole:
                if self.store.partitions.timescale:
                    await conn.execute(drop_chunk_statement("plate_reads"), params)
                else:
                    await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition)))
                erased.partitions_dropped.append(partition)
            elif doomed:
                await conn.execute("DELETE FROM plate_reads r USING doomed d WHERE r.id = d.id AND r.read_at = d.read_at"
                                   " AND r.read_at >= %(s)s AND r.read_at < %(e)s", params)
            if doomed and day is not None:
                await forget_day(conn, day)
            if doomed:
                cur = await conn.execute(
                    "DELETE FROM passes p WHERE p.id IN (SELECT DISTINCT pass_id FROM doomed WHERE pass_id IS NOT NULL)"
                    " AND p.status = 'closed' AND NOT EXISTS (SELECT 1 FROM plate_reads r WHERE r.pass_id = p.id)"
                    " AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.pass_id = p.id)")
                erased.passes = cur.rowcount
            if erased.anything:
                await self.audit.record(AuditEntry(
                    PRINCIPAL, "system", "erasure", "retention",
                    {"from": start.isoformat(), "to": end.isoformat(), "non_hit_cutoff": non_hit_cut.isoformat(),
                     "hit_cutoff": hit_cut.isoformat(), "partition_dropped": partition if whole else None,
                     "counts": erased.counts()}, doomed), conn=conn)
        if whole and day is not None:
            self.store.partitions.forget("plate_reads", day)
        return erased

    async def _erase_rule_alerts(self, conn: AsyncConnection, now: datetime) -> Erased:
        """Alerts raised by the geo rules (approach, zones, co-travel: no hit behind them) carry plates
        and positions too; they go after the hit retention, with their deliveries, logged."""
        hit_cut = self.rules.cutoffs(now)[1]
        erased = Erased()
        async with conn.transaction():
            await conn.execute("SELECT set_config('lapi.erasure', 'retention', true)")
            cur = await conn.execute(
                "WITH a AS (SELECT id FROM alert_outbox WHERE hit_id IS NULL AND revises_hit_id IS NULL"
                "  AND created_at < %s),"
                " d AS (DELETE FROM alert_deliveries WHERE alert_id IN (SELECT id FROM a))"
                " DELETE FROM alert_outbox WHERE id IN (SELECT id FROM a)", (hit_cut,))
            erased.alerts = cur.rowcount
            if erased.alerts:
                await self.audit.record(AuditEntry(
                    PRINCIPAL, "system", "erasure", "retention",
                    {"rule_alerts_before": hit_cut.isoformat(), "counts": erased.counts()}, erased.alerts), conn=conn)
        return erased

    async def run_periodically(self, every: timedelta, first_after: timedelta = timedelta(seconds=30)) -> None:
        """The service's scheduled job (runs until cancelled); a failed run is logged and retried."""
        await run_periodically(self.run, every, "retention run", first_after)
