"""This frontend's replica records (DB 3): unique across frontends, cleaned per frontend.

Several query frontends may share one Redis, so each

- claims every replica id with ``INCR`` on the model version's counter
  (DB 4), keeping the original's ``<model>,<version>,<replica_id>`` keys
  and hash fields (plus ``query_frontend_id``, naming the frontend);
- keeps a liveness key ``query_frontend:<id>`` (DB 4) with a TTL, refreshed
  every third of it;
- deletes only records it owns: on every (re)connection the ones of its
  replicas that left while Redis was away, at shutdown all of its own; and
  the records of any frontend whose liveness key expired (one that died
  without cleaning up), checked at each refresh;
- and those of a frontend that held its own RPC endpoint (host and port,
  the liveness key's value): two live frontends cannot bind one port, so
  that one is dead even while its key lives on. A frontend restarted in
  place (killed, then started again by its supervisor) thus clears its
  predecessor's records at once, not a TTL later.

Records without an owner (written by the original's frontend) are left alone.
All of it runs in the writer's task, so the writes to DB 3 stay in order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket

import redis.asyncio as aioredis

from clipper_protocol import redis_schema as rs
from query_frontend.redis_state.connector import RedisConnector
from query_frontend.redis_state.writer import RedisWriter
from query_frontend.replicas import Replica

log = logging.getLogger("clipper.query_frontend.config")


def new_frontend_id() -> str:
    """Unique per process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class ReplicaRecords:
    """Writes and withdraws the DB 3 records of the replicas connected here."""

    def __init__(self, connector: RedisConnector, writer: RedisWriter, ttl_s: float,
                 frontend_id: str | None = None) -> None:
        self.connector = connector
        self.writer = writer
        self.ttl_s = ttl_s
        self.frontend_id = frontend_id or new_frontend_id()
        #: ``<host>:<RPC port>``, set once the RPC service is bound ("" before: no predecessor is claimed).
        self.endpoint = ""
        self._connected: dict[bytes, Replica] = {}
        self._refresh_queued = False

    @property
    def _containers(self) -> aioredis.Redis:
        return self.connector.db(rs.RedisDB.CONTAINERS)

    # ------------------------------------------------------------ the RPC side's events

    def replica_connected(self, replica: Replica) -> None:
        self._connected[replica.identity] = replica
        self.writer.enqueue("record_replica", lambda: self._write(replica))

    def replica_disconnected(self, replica: Replica) -> None:
        self._connected.pop(replica.identity, None)
        self.writer.enqueue("forget_replica", lambda: self._delete(replica))

    # ------------------------------------------------------------ writes (in the writer's task)

    def record(self, replica: Replica) -> rs.ContainerRecord:
        assert replica.replica_id is not None
        return rs.ContainerRecord(replica.model_name, replica.model_version, replica.replica_id,
                                  replica.connection_id, replica.input_type.canonical_name,
                                  query_frontend_id=self.frontend_id)

    async def _write(self, replica: Replica) -> None:
        if not replica.alive:
            return  # gone before Redis heard of it
        await self._refresh_liveness()  # before any record: others must see its owner alive
        if replica.replica_id is None:
            counter = rs.replica_id_counter_key(replica.model_name, replica.model_version)
            replica.replica_id = int(await self.connector.db(rs.RedisDB.RESOURCES).incr(counter)) - 1
            log.info("Model replica %s:%s (connection %d) is replica %s", replica.model_name,
                     replica.model_version, replica.connection_id, replica.replica_id)
        rec = self.record(replica)
        await self._containers.hset(rs.container_key(rec.model_name, rec.model_version, rec.model_replica_id),
                                    mapping=rec.to_hash())  # type: ignore[arg-type]

    async def _delete(self, replica: Replica) -> None:
        if replica.replica_id is not None:
            await self._containers.delete(
                rs.container_key(replica.model_name, replica.model_version, replica.replica_id))

    async def _refresh_liveness(self) -> None:
        await self.connector.db(rs.RedisDB.RESOURCES).set(
            rs.frontend_liveness_key(self.frontend_id), self.endpoint or "1", ex=max(1, round(self.ttl_s)))

    async def _collect(self, withdraw: bool = False) -> None:
        """Delete our stale records and those of frontends that are gone (with ``withdraw``: all of ours)."""
        keys = [str(k) async for k in self._containers.scan_iter(count=1000)]
        if not keys:
            return
        async with self._containers.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hget(key, rs.FRONTEND_ID_FIELD)
            owners: list[str | None] = await pipe.execute()
        others = sorted({o for o in owners if o and o != self.frontend_id})
        alive: dict[str, bool] = {}
        if others:
            liveness = self.connector.db(rs.RedisDB.RESOURCES)
            values = [await liveness.get(rs.frontend_liveness_key(o)) for o in others]
            # Alive: its key lives and it is not the frontend this one replaced on its own endpoint.
            alive = {o: v is not None and not (self.endpoint and str(v) == self.endpoint)
                     for o, v in zip(others, values)}
        # Computed after the reads: a record written meanwhile is either in
        # ``mine`` (its id was claimed before its write) or was not read.
        mine = set() if withdraw else {
            rs.container_key(r.model_name, r.model_version, r.replica_id)
            for r in self._connected.values() if r.replica_id is not None
        }
        stale = [k for k, o in zip(keys, owners)
                 if (o == self.frontend_id and k not in mine) or (o and o != self.frontend_id and not alive[o])]
        if stale:
            dead = sorted({o for o in owners if o and o != self.frontend_id and not alive[o]})
            if dead:
                log.info("Deleting %d replica records of query frontends that are gone: %s",
                         len(stale), ", ".join(dead))
            await self._containers.delete(*stale)

    async def rewrite(self) -> None:
        """On every (re)connection: drop records of replicas that left meanwhile, write the live ones."""
        await self._refresh_liveness()
        await self._collect()
        for replica in list(self._connected.values()):
            await self._write(replica)

    async def withdraw(self) -> None:
        """At shutdown, after the replicas left: delete every record of ours and the liveness key."""
        await self._collect(withdraw=True)
        await self.connector.db(rs.RedisDB.RESOURCES).delete(rs.frontend_liveness_key(self.frontend_id))

    # ------------------------------------------------------------ the liveness loop

    async def keep_alive(self) -> None:
        """Refresh the liveness key and collect dead frontends' records every third of the TTL (supervised)."""
        while True:
            await self.connector.wait_connected()
            if not self._refresh_queued:
                self._refresh_queued = True
                self.writer.enqueue("refresh_liveness", self._refresh_and_collect)
            await asyncio.sleep(self.ttl_s / 3)

    async def _refresh_and_collect(self) -> None:
        self._refresh_queued = False
        await self._refresh_liveness()
        await self._collect()
