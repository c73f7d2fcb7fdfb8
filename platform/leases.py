"""Leases on stream work, with an epoch that fences out a consumer that lost its lease.

A lease is a row in the state database: ``(name, owner, epoch, expires_at)``.

* ``acquire()`` takes a free, expired or provably dead owner's lease; every
  change of owner increments the epoch, which never goes down (release keeps
  the row and only expires it).
* ``renew()`` extends the lease only if this owner still holds it *at the same
  epoch* (a compare-and-set); a consumer that was paused past the lease period
  and lost it finds out here, and at commit time (``eventlake.committer`` checks
  the lease and the epoch stored in the table inside every commit attempt).
* An owner is ``host:pid:nonce``. A lease whose owner runs on this host under a
  pid that no longer exists is taken at once, without waiting out its period.

Each statement is its own short transaction, so a paused process can hold the
database's write lock for one statement at most.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from eventlake.state.database import create_tables

log = logging.getLogger("eventlake.leases")

_meta = sa.MetaData()
leases_table = sa.Table(
    "eventlake_leases",
    _meta,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("owner", sa.String(256), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)
_EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


class LeaseHeld(RuntimeError):
    """Another owner holds the lease."""


class LeaseLost(RuntimeError):
    """This owner no longer holds the lease (it expired and another took it)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _owner_is_dead(owner: str) -> bool:
    """True when ``owner`` is a process of this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def new_owner() -> str:
    """``host:pid:nonce``: unique, and tells whether the owner's process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One named lease in the state database (SQLite or PostgreSQL)."""

    def __init__(self, engine: sa.Engine, name: str, ttl_seconds: float = 30.0, *, owner: str | None = None):
        self.engine = engine
        self.name = name
        self.ttl = timedelta(seconds=ttl_seconds)
        self.owner = owner or new_owner()
        self.epoch: int | None = None  # set while held
        create_tables(_meta, engine)

    # -- taking and keeping ------------------------------------------------------
    def acquire(self) -> bool:
        """Take or renew the lease; True when this owner holds it afterwards."""
        if self.epoch is not None and self.renew():
            return True
        now = datetime.now(UTC)
        c = leases_table.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(c.owner, c.epoch, c.expires_at).where(c.name == self.name)).first()
        if row is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.insert(leases_table).values(name=self.name, owner=self.owner, epoch=1, expires_at=now + self.ttl)
                    )
            except sa.exc.IntegrityError:
                return False  # another owner inserted it first
            self.epoch = 1
            log.info("lease %s taken by %s at epoch 1", self.name, self.owner)
            return True
        free = _aware(row.expires_at) <= now or row.owner == self.owner
        if not free and not _owner_is_dead(row.owner):
            return False
        # compare-and-set on the row as read: whoever changes it first wins
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.update(leases_table)
                .where(c.name == self.name, c.owner == row.owner, c.epoch == row.epoch)
                .values(owner=self.owner, epoch=row.epoch + 1, expires_at=now + self.ttl)
            ).rowcount
        if not taken:
            return False
        self.epoch = row.epoch + 1
        how = "from a dead owner " if _aware(row.expires_at) > now and row.owner != self.owner else ""
        log.info("lease %s taken %sby %s at epoch %d (was %s)", self.name, how, self.owner, self.epoch, row.owner)
        return True

    def renew(self) -> bool:
        """Extend the lease if still held at this epoch; on loss forget the epoch and return False."""
        if self.epoch is None:
            return False
        c = leases_table.c
        with self.engine.begin() as conn:
            kept = conn.execute(
                sa.update(leases_table)
                .where(c.name == self.name, c.owner == self.owner, c.epoch == self.epoch)
                .values(expires_at=datetime.now(UTC) + self.ttl)
            ).rowcount
        if not kept:
            log.warning("lease %s lost by %s (epoch %d): another owner took it", self.name, self.owner, self.epoch)
            self.epoch = None
        return bool(kept)

    def ensure_epoch_above(self, floor: int) -> int:
        """Raise this owner's epoch above ``floor`` (an epoch already stored in a table).

        Needed only when the state database is younger than the tables (it was
        reset); a no-op when the epoch is already at least ``floor``. Raises
        ``LeaseLost`` if the lease is no longer held.
        """
        if self.epoch is None:
            raise LeaseLost(f"lease {self.name} is not held by {self.owner}")
        if self.epoch >= floor:
            return self.epoch
        c = leases_table.c
        with self.engine.begin() as conn:
            raised = conn.execute(
                sa.update(leases_table)
                .where(c.name == self.name, c.owner == self.owner, c.epoch == self.epoch)
                .values(epoch=floor + 1)
            ).rowcount
        if not raised:
            self.epoch = None
            raise LeaseLost(f"lease {self.name} was taken from {self.owner}")
        log.warning("lease %s: epoch raised from %d to %d above the tables' stored epoch", self.name, self.epoch, floor + 1)
        self.epoch = floor + 1
        return self.epoch

    def holder(self) -> str | None:
        """The owner currently holding the lease (None when free or expired)."""
        c = leases_table.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(c.owner, c.expires_at).where(c.name == self.name)).first()
        if row is None or _aware(row.expires_at) <= datetime.now(UTC):
            return None
        return row.owner

    def release(self) -> None:
        """Give the lease up (expire it now; the epoch stays, so it never goes down)."""
        if self.epoch is None:
            return
        c = leases_table.c
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(leases_table)
                .where(c.name == self.name, c.owner == self.owner, c.epoch == self.epoch)
                .values(expires_at=_EXPIRED)
            )
        self.epoch = None


# ---------------------------------------------------------------------------
# leases per shard, balanced over the live consumers (as the Kinesis Client Library does)
# ---------------------------------------------------------------------------
workers_table = sa.Table(
    "eventlake_workers",
    _meta,
    sa.Column("group_name", sa.String(256), primary_key=True),
    sa.Column("worker", sa.String(256), primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class ShardLeases:
    """The shard leases one consumer holds in a group of consumers of one stream.

    Every consumer registers itself with a heartbeat; ``balance()`` shares the
    shards evenly among the live consumers: a consumer over its share gives
    shards up, one under it takes free, expired or dead owners' shards.
    A consumer that dies is gone from the group within one lease period (at
    once when its process is provably gone), and its shards are taken over.
    """

    def __init__(self, engine: sa.Engine, group: str, ttl_seconds: float = 30.0):
        self.engine = engine
        self.group = group
        self.ttl = timedelta(seconds=ttl_seconds)
        self.owner = new_owner()
        self.leases: dict[str, Lease] = {}
        create_tables(_meta, engine)

    def _lease(self, shard: str) -> Lease:
        if shard not in self.leases:
            self.leases[shard] = Lease(self.engine, f"{self.group}:{shard}", self.ttl.total_seconds(), owner=self.owner)
        return self.leases[shard]

    def held_elsewhere(self, shard: str) -> bool:
        """Whether another live consumer holds ``shard``."""
        holder = self._lease(shard).holder()
        return holder is not None and holder != self.owner and not _owner_is_dead(holder)

    def held(self) -> dict[str, int]:
        """``{shard: epoch}`` of the leases held now (as far as this process knows)."""
        return {s: lease.epoch for s, lease in self.leases.items() if lease.epoch is not None}

    def epoch(self, shard: str) -> int | None:
        lease = self.leases.get(shard)
        return lease.epoch if lease else None

    def still_held(self, shard: str, epoch: int) -> bool:
        """Renew ``shard``'s lease if it is still held at ``epoch`` (the commit's check)."""
        lease = self.leases.get(shard)
        return lease is not None and lease.epoch == epoch and lease.renew()

    def _heartbeat(self) -> int:
        """Register this consumer for one more period; returns the number of live consumers."""
        now = datetime.now(UTC)
        c = workers_table.c
        with self.engine.begin() as conn:
            kept = conn.execute(
                sa.update(workers_table)
                .where(c.group_name == self.group, c.worker == self.owner)
                .values(expires_at=now + self.ttl)
            ).rowcount
            if not kept:
                conn.execute(sa.insert(workers_table).values(group_name=self.group, worker=self.owner,
                                                             expires_at=now + self.ttl))
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.worker, c.expires_at).where(c.group_name == self.group)).all()
        live = [r.worker for r in rows if _aware(r.expires_at) > now and not _owner_is_dead(r.worker)]
        return max(1, len(set(live) | {self.owner}))

    def _holdings(self, shards: list[str]) -> dict[str, int]:
        """How many of ``shards`` each other live owner holds now."""
        c = leases_table.c
        names = [f"{self.group}:{s}" for s in shards]
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.owner, c.expires_at).where(c.name.in_(names))).all()
        counts: dict[str, int] = {}
        for r in rows:
            if r.owner != self.owner and _aware(r.expires_at) > now and not _owner_is_dead(r.owner):
                counts[r.owner] = counts.get(r.owner, 0) + 1
        return counts

    def others_alive(self) -> list[str]:
        """Other consumers of the group with an unexpired heartbeat (and a live process, when local)."""
        now = datetime.now(UTC)
        c = workers_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.worker, c.expires_at).where(c.group_name == self.group)).all()
        return sorted(
            r.worker for r in rows
            if r.worker != self.owner and _aware(r.expires_at) > now and not _owner_is_dead(r.worker)
        )

    def balance(self, shards: list[str]) -> dict[str, int]:
        """Renew, give up or take shard leases toward this consumer's share; returns ``held()``.

        With S shards and C live consumers each holds S // C, and S % C of them
        one more: a consumer takes the extra one only while fewer than S % C
        others hold one, and gives a shard up when it holds more than its share.
        """
        live = self._heartbeat()
        for shard in list(self.held()):
            if shard not in shards or not self._lease(shard).renew():
                self.leases.pop(shard, None)
        base, extra = divmod(len(shards), live)
        others_over = sum(1 for n in self._holdings(shards).values() if n > base)
        share = base + 1 if others_over < extra else base
        held = sorted(self.held())
        for shard in held[max(share, 0):]:  # over the share: let another consumer have them
            self._lease(shard).release()
            log.info("lease %s:%s given up by %s to balance %d consumers", self.group, shard, self.owner, live)
        for shard in shards:
            if len(self.held()) >= share:
                break
            if shard not in self.held():
                self._lease(shard).acquire()
        return self.held()

    def release_all(self) -> None:
        for lease in self.leases.values():
            lease.release()
        c = workers_table.c
        with self.engine.begin() as conn:
            conn.execute(sa.delete(workers_table).where(c.group_name == self.group, c.worker == self.owner))

    @contextmanager
    def kept_alive(self) -> Iterator[None]:
        """Renew every held lease, and the heartbeat, every third of the period while the block runs."""
        stop = threading.Event()
        period = self.ttl.total_seconds() / 3

        def beat() -> None:
            while not stop.wait(period):
                try:
                    self._heartbeat()
                    for lease in list(self.leases.values()):
                        if lease.epoch is not None:
                            lease.renew()
                except Exception as exc:  # noqa: BLE001 - a failed renewal is retried next beat
                    log.warning("leases %s: renewal failed: %s", self.group, exc)

        thread = threading.Thread(target=beat, name=f"leases-{self.group}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
