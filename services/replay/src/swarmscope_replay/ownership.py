"""Replay scaled out by session: partitions of the session space, held through leases in JetStream KV.

A session belongs to partition `crc32(session_id) % partitions` (fixed for the deployment). Each
replica reads the whole TRACES log through its own durable (`replay` for ordinal 0, `replay-<n>`
for the others) and folds only the sessions of the partitions it holds; the rest it acks unread.

Leases live in the KV bucket REPLAY_LEASES_BUCKET, whose entries expire after the lease time:
- `m.<replica>`: a live replica, renewed every tick; how many there are sets the fair share,
  ceil(partitions / replicas);
- `p.<n>`: who holds partition n, renewed every tick with compare-and-set on its revision, so two
  replicas never both renew one lease.
- `o.<n>`: a replica's ordinal, the lowest free one claimed at start (`claim_ordinal`): it names
  the durable the replica reads through, so replicas need no stable identity (a Deployment scales
  them freely) and a restarted replica resumes a durable where the last holder of its ordinal left
  it. A replica that loses its ordinal lease stops (`OrdinalLost`): two replicas must never pull
  from one durable. A replica above its share releases the excess (newcomers
  get partitions within a tick or two); below it, it creates leases on free partitions.
A replica that dies stops renewing: after one lease time its partitions are free and the others
take them. Its sessions are rebuilt exactly by the new holder: snapshots and progress rows are in
the shared snapshot database, and events it never applied come from the store (tracker.py).

`held()` counts a lease only while it is fresh locally (renewed less than 90 % of a lease ago), so
a replica whose loop stalls stops folding before another can take over. Even when two replicas
fold one session for a moment (a lease lost mid-batch), nothing goes wrong: folds are
deterministic and snapshot and progress writes idempotent, so both write the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections.abc import Callable
from typing import Protocol

import orjson
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KeyValue

from swarmscope_schema.subjects import DURABLE_REPLAY, EVENTS_PREFIX, REPLAY_LEASES_BUCKET, subject_token

log = logging.getLogger(__name__)

FRESH_SHARE = 0.9


def partition_of(session_id: str, partitions: int) -> int:
    """The partition of a session (stable across processes, releases and machines)."""
    return zlib.crc32(session_id.encode()) % partitions


def replica_durable(ordinal: int) -> str:
    """The durable a replica reads TRACES through: ordinal 0 keeps the contract's `replay`."""
    return DURABLE_REPLAY if ordinal == 0 else f"{DURABLE_REPLAY}-{ordinal}"


def session_of_subject(subject: str) -> str | None:
    """The session token of a canonical event subject (None when it is not one)."""
    if not subject.startswith(EVENTS_PREFIX + "."):
        return None
    parts = subject.split(".", 4)
    return parts[2] if len(parts) == 5 else None


class OrdinalLost(Exception):
    """This replica's ordinal lease expired or was taken: it must stop (and be restarted)."""


class Ownership(Protocol):
    """Which sessions this replica folds."""

    def held(self) -> frozenset[int]:
        """The partitions this replica holds now."""

    def partition_of(self, session_id: str) -> int: ...


class LeaseOwnership:
    """Partitions held through KV leases, kept by `run()` (a background task of the service)."""

    def __init__(
        self,
        js: JetStreamContext,
        replica: str,
        partitions: int,
        *,
        lease_seconds: float = 10.0,
        bucket: str = REPLAY_LEASES_BUCKET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._js = js
        self._replica = replica
        self._member_key = f"m.{subject_token(replica)}"
        self._partitions = partitions
        self._lease = lease_seconds
        self._bucket = bucket
        self._clock = clock
        self._kv: KeyValue | None = None
        # partition -> (revision of our lease entry, when we last wrote it)
        self._leases: dict[int, tuple[int, float]] = {}
        self._members = 1
        self._ordinal: tuple[int, int] | None = None  # (ordinal, revision of its lease)

    @property
    def partitions(self) -> int:
        return self._partitions

    @property
    def members(self) -> int:
        return self._members

    def partition_of(self, session_id: str) -> int:
        return partition_of(session_id, self._partitions)

    def held(self) -> frozenset[int]:
        fresh = self._clock() - self._lease * FRESH_SHARE
        return frozenset(p for p, (_, renewed) in self._leases.items() if renewed > fresh)

    async def start(self) -> None:
        """Opens the bucket and takes a first share, so the consumer starts with partitions."""
        self._kv = await self._open()
        await self.tick()

    async def claim_ordinal(self, limit: int = 1024) -> int:
        """The lowest ordinal no live replica holds, leased to this one (renewed by `tick`)."""
        kv = self._kv or await self._open()
        self._kv = kv
        value = orjson.dumps({"replica": self._replica, "at": time.time()})
        for ordinal in range(limit):
            try:
                self._ordinal = (ordinal, await kv.create(f"o.{ordinal}", value))
            except KeyWrongLastSequenceError:
                continue
            return ordinal
        raise RuntimeError(f"every ordinal below {limit} is held: too many replay replicas")

    async def run(self) -> None:
        """Renews, balances and claims every third of a lease until cancelled; raises
        OrdinalLost (which stops the service) when another replica may read its durable."""
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self.tick()
            except OrdinalLost:
                raise
            except Exception as exc:
                log.warning("partition leases not renewed", extra={"error": repr(exc)})

    async def release(self) -> None:
        """Gives every partition back (a graceful shutdown): others take them at once."""
        kv = self._kv
        if kv is None:
            return
        for partition, (revision, _) in list(self._leases.items()):
            with contextlib.suppress(Exception):
                await kv.delete(self._key(partition), last=revision)
        self._leases.clear()
        with contextlib.suppress(Exception):
            await kv.delete(self._member_key)
        if self._ordinal is not None:
            with contextlib.suppress(Exception):
                await kv.delete(f"o.{self._ordinal[0]}", last=self._ordinal[1])
            self._ordinal = None

    async def tick(self) -> None:
        kv = self._kv or await self._open()
        self._kv = kv
        now = self._clock()
        value = orjson.dumps({"replica": self._replica, "at": time.time()})
        await kv.put(self._member_key, value)
        if self._ordinal is not None:
            ordinal, revision = self._ordinal
            try:
                self._ordinal = (ordinal, await kv.update(f"o.{ordinal}", value, last=revision))
            except (KeyWrongLastSequenceError, KeyNotFoundError, KeyDeletedError):
                raise OrdinalLost(f"ordinal {ordinal} is no longer this replica's") from None
        for partition, (revision, _) in list(self._leases.items()):
            try:
                self._leases[partition] = (await kv.update(self._key(partition), value, last=revision), now)
            except (KeyWrongLastSequenceError, KeyNotFoundError, KeyDeletedError):
                log.warning("partition lease lost", extra={"partition": partition})
                del self._leases[partition]
        try:
            keys = await kv.keys()
        except NoKeysError:
            keys = []
        self._members = max(1, sum(1 for k in keys if k.startswith("m.")))
        taken = {int(k[2:]) for k in keys if k.startswith("p.") and k[2:].isdigit()}
        share = math.ceil(self._partitions / self._members)
        if len(self._leases) > share:
            for partition in sorted(self._leases, key=self._rank)[share:]:
                revision = self._leases.pop(partition)[0]
                with contextlib.suppress(Exception):
                    await kv.delete(self._key(partition), last=revision)
            log.info("partitions released to balance", extra={"held": len(self._leases), "share": share})
        free = [p for p in range(self._partitions) if p not in taken and p not in self._leases]
        for partition in sorted(free, key=self._rank):
            if len(self._leases) >= share:
                break
            try:
                self._leases[partition] = (await kv.create(self._key(partition), value), now)
            except KeyWrongLastSequenceError:
                continue  # another replica was first

    def _rank(self, partition: int) -> int:
        # Each replica prefers a different order, so replicas claiming at once rarely collide.
        return zlib.crc32(f"{self._replica}:{partition}".encode())

    @staticmethod
    def _key(partition: int) -> str:
        return f"p.{partition}"

    async def _open(self) -> KeyValue:
        try:
            return await self._js.key_value(self._bucket)
        except BucketNotFoundError:
            config = KeyValueConfig(bucket=self._bucket, history=1, ttl=self._lease, storage=StorageType.FILE)
            try:
                return await self._js.create_key_value(config)
            except Exception:
                # Another replica created it meanwhile.
                return await self._js.key_value(self._bucket)
