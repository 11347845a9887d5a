"""Writes cluster configuration into Redis the way the management frontend does.

Lets data-plane tests set up applications, models and links without the
admin REST API in the way; integration tests use the real management frontend.
"""

from __future__ import annotations

import redis

from clipper_protocol import redis_schema as rs


class ClusterState:
    def __init__(self, host: str, port: int) -> None:
        self._dbs = {db: redis.Redis(host=host, port=port, db=int(db), decode_responses=True) for db in rs.RedisDB}

    def close(self) -> None:
        for client in self._dbs.values():
            client.close()

    def add_app(self, name: str, input_type: str = "doubles", default_output: str = "DEFAULT",
                slo_micros: int = 100000) -> None:
        rec = rs.ApplicationRecord(name, input_type, default_output, slo_micros)
        self._dbs[rs.RedisDB.APPLICATIONS].hset(name, mapping=rec.to_hash())

    def delete_app(self, name: str) -> None:
        self._dbs[rs.RedisDB.APPLICATIONS].delete(name)

    def add_model(self, name: str, version: str, input_type: str = "doubles", batch_size: int = -1) -> None:
        rec = rs.ModelRecord(name, version, input_type, batch_size=batch_size)
        self._dbs[rs.RedisDB.MODELS].hset(rs.model_key(name, version), mapping=rec.to_hash())
        self.set_version(name, version)

    def set_version(self, name: str, version: str) -> None:
        self._dbs[rs.RedisDB.METADATA].set(rs.current_version_key(name), version)

    def delete_model_version(self, name: str, version: str) -> None:
        self._dbs[rs.RedisDB.MODELS].hdel(rs.model_key(name, version), "valid")

    def link(self, app: str, model: str) -> None:
        self._dbs[rs.RedisDB.APP_MODEL_LINKS].sadd(app, model)

    def unlink(self, app: str, model: str) -> None:
        self._dbs[rs.RedisDB.APP_MODEL_LINKS].srem(app, model)

    def containers(self) -> dict[str, dict[str, str]]:
        db = self._dbs[rs.RedisDB.CONTAINERS]
        return {k: db.hgetall(k) for k in db.keys("*")}

    def state(self, app: str) -> str | None:
        return self._dbs[rs.RedisDB.STATE].get(rs.state_key(app))
