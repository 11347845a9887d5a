"""Lua scripts that check and write Redis state in one atomic step.

Each admin mutation reads state in several databases (does the app exist?
which apps link this model, with which input type?) before writing. Running
check and write as one script means two concurrent requests can never both
pass a check that only one of them may pass (two registrations of the same
model version, two links to one app).

Nothing of the Redis layout is spelt inside the Lua: every script gets the
database numbers, the hash field names and the key parts of
:mod:`clipper_protocol.redis_schema` as its first arguments
(:data:`COMMON_ARGS`, bound to Lua locals by the prelude), then its own
arguments (the Lua table ``args``). Keys are built in Python and passed in;
only the model key of a model's *current* version is derived inside a
script, because that version is only known once the script has read it.
Scripts switch database with ``SELECT``, which inside a script does not
affect the calling connection, and answer a table whose first element is a
:class:`ScriptResult` word and the rest details for the message.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from clipper_protocol import selection_schema as ss
from clipper_protocol.constants import ITEM_PART_CONCATENATOR
from clipper_protocol.redis_schema import (
    APP_INPUT_TYPE_FIELD,
    APP_POLICY_FIELD,
    CURRENT_MODEL_VERSION_PREFIX,
    MODEL_INPUT_TYPE_FIELD,
    MODEL_VALID_FIELD,
    RedisDB,
)


class ScriptResult(enum.Enum):
    """The first word of a script's answer."""

    OK = "ok"
    EXISTS = "exists"
    MISSING = "missing"
    NO_APP = "no_app"
    NO_MODEL = "no_model"
    NO_VERSION = "no_version"
    NO_MODELS = "no_models"
    INVALID = "invalid"
    CONFLICT = "conflict"
    INCOMPATIBLE = "incompatible"
    TOO_MANY = "too_many"
    ALREADY_LINKED = "already_linked"
    OTHER_LINKED = "other_linked"
    NOT_LINKED = "not_linked"
    TOO_MANY_LINKS = "too_many_links"


@dataclass(frozen=True, slots=True)
class ScriptOutcome:
    """A script's answer: its result and the details for the message."""

    result: ScriptResult
    details: tuple[str, ...] = ()

    @classmethod
    def decode(cls, raw: Any) -> "ScriptOutcome":
        try:
            return cls(ScriptResult(str(raw[0])), tuple(str(x) for x in raw[1:]))
        except (ValueError, TypeError, IndexError, KeyError):
            raise RuntimeError(f"unexpected script answer {raw!r}") from None


COMMON_ARGS: tuple[tuple[str, str | int], ...] = (
    ("MODELS_DB", int(RedisDB.MODELS)),
    ("APPS_DB", int(RedisDB.APPLICATIONS)),
    ("METADATA_DB", int(RedisDB.METADATA)),
    ("LINKS_DB", int(RedisDB.APP_MODEL_LINKS)),
    ("STATE_DB", int(RedisDB.STATE)),
    ("APP_INPUT_TYPE", APP_INPUT_TYPE_FIELD),
    ("APP_POLICY", APP_POLICY_FIELD),
    ("APP_PARAMS", ss.PARAMS_FIELD),
    ("MODEL_INPUT_TYPE", MODEL_INPUT_TYPE_FIELD),
    ("MODEL_VALID", MODEL_VALID_FIELD),
    ("DEFAULT_POLICY", ss.DEFAULT_POLICY),
    ("CURRENT_VERSION_PREFIX", CURRENT_MODEL_VERSION_PREFIX),
    ("MODEL_KEY_SEP", ITEM_PART_CONCATENATOR),
)
"""(Lua name, value) of the arguments every script starts with."""
COMMON_ARGV: list[str | int] = [value for _, value in COMMON_ARGS]

_PRELUDE = (
    "\n".join(f"local {name} = ARGV[{i}]" for i, (name, _) in enumerate(COMMON_ARGS, 1))
    + "\nlocal R = {"
    + ", ".join(f"{r.name} = '{r.value}'" for r in ScriptResult)
    + "}\n"
    + f"""local args = {{}}
for i = {len(COMMON_ARGS) + 1}, #ARGV do args[#args + 1] = ARGV[i] end

-- First app (in name order) linked to `model` whose input type is not `input_type`.
local function conflicting_app(model, input_type)
  redis.call('SELECT', LINKS_DB)
  local apps = redis.call('KEYS', '*')
  table.sort(apps)
  for _, app in ipairs(apps) do
    redis.call('SELECT', LINKS_DB)
    if redis.call('SISMEMBER', app, model) == 1 then
      redis.call('SELECT', APPS_DB)
      local app_type = redis.call('HGET', app, APP_INPUT_TYPE)
      if app_type and app_type ~= input_type then
        return app, app_type
      end
    end
  end
  return nil, nil
end
"""
)

ADD_APPLICATION = _PRELUDE + """
-- KEYS[1] app hash (DB 5); args: field, value, ...
redis.call('SELECT', APPS_DB)
if redis.call('EXISTS', KEYS[1]) == 1 then return {R.EXISTS} end
redis.call('HSET', KEYS[1], unpack(args))
return {R.OK}
"""

DELETE_APPLICATION = _PRELUDE + """
-- KEYS[1] app hash (DB 5), KEYS[2] app's link set (DB 7), KEYS[3] app's selection state (DB 1)
-- args: patterns of the app's learned selection state (DB 1), one per policy
redis.call('SELECT', APPS_DB)
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.MISSING} end
redis.call('DEL', KEYS[1])
redis.call('SELECT', LINKS_DB)
redis.call('DEL', KEYS[2])
redis.call('SELECT', STATE_DB)
redis.call('DEL', KEYS[3])
for _, pattern in ipairs(args) do
  for _, key in ipairs(redis.call('KEYS', pattern)) do redis.call('DEL', key) end
end
return {R.OK}
"""

ADD_MODEL_LINKS = _PRELUDE + """
-- KEYS[1] app hash (DB 5), KEYS[2] app's link set (DB 7); args: model names
redis.call('SELECT', APPS_DB)
local app_type = redis.call('HGET', KEYS[1], APP_INPUT_TYPE)
if not app_type then return {R.NO_APP} end
local policy = redis.call('HGET', KEYS[1], APP_POLICY) or DEFAULT_POLICY
for _, model in ipairs(args) do
  redis.call('SELECT', METADATA_DB)
  local version = redis.call('GET', CURRENT_VERSION_PREFIX .. model)
  if not version then return {R.NO_MODEL, model} end
  redis.call('SELECT', MODELS_DB)
  local model_type = redis.call('HGET', model .. MODEL_KEY_SEP .. version, MODEL_INPUT_TYPE)
  if not model_type then return {R.NO_MODEL, model} end
  if model_type ~= app_type then return {R.INCOMPATIBLE, model, model_type, app_type} end
end
local n = #args
if n == 0 then return {R.NO_MODELS} end
redis.call('SELECT', LINKS_DB)
if policy ~= DEFAULT_POLICY then
  -- A selection policy chooses among several linked models.
  for _, model in ipairs(args) do
    if redis.call('SISMEMBER', KEYS[2], model) == 1 then return {R.ALREADY_LINKED, model} end
  end
  redis.call('SADD', KEYS[2], unpack(args))
  return {R.OK, unpack(args)}
end
-- The original's default policy: one model per application.
if n > 1 then return {R.TOO_MANY, tostring(n)} end
local model = args[1]
if redis.call('SISMEMBER', KEYS[2], model) == 1 then return {R.ALREADY_LINKED, model} end
local linked = redis.call('SMEMBERS', KEYS[2])
if #linked > 0 then
  table.sort(linked)
  return {R.OTHER_LINKED, linked[1]}
end
redis.call('SADD', KEYS[2], model)
return {R.OK, model}
"""

REMOVE_MODEL_LINKS = _PRELUDE + """
-- KEYS[1] app hash (DB 5), KEYS[2] app's link set (DB 7); args: model names
redis.call('SELECT', APPS_DB)
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_APP} end
redis.call('SELECT', LINKS_DB)
for _, model in ipairs(args) do
  if redis.call('SISMEMBER', KEYS[2], model) == 0 then return {R.NOT_LINKED, model} end
end
if #args > 0 then redis.call('SREM', KEYS[2], unpack(args)) end
return {R.OK}
"""

ADD_MODEL = _PRELUDE + """
-- KEYS[1] model hash (DB 2), KEYS[2] current-version key (DB 6)
-- args: model name, version, input type, then field, value, ...
redis.call('SELECT', MODELS_DB)
if redis.call('EXISTS', KEYS[1]) == 1 then return {R.EXISTS} end
local app, app_type = conflicting_app(args[1], args[3])
if app then return {R.CONFLICT, app, app_type} end
-- Model hash first, then the current version: the order the original
-- writes them, which the query frontend's notification handlers expect.
redis.call('SELECT', MODELS_DB)
redis.call('HSET', KEYS[1], unpack(args, 4))
redis.call('SELECT', METADATA_DB)
redis.call('SET', KEYS[2], args[2])
return {R.OK}
"""

SET_MODEL_VERSION = _PRELUDE + """
-- KEYS[1] model hash of the version (DB 2), KEYS[2] current-version key (DB 6)
-- args: model name, version, KEYS pattern of the model's versions
redis.call('SELECT', MODELS_DB)
if #redis.call('KEYS', args[3]) == 0 then return {R.NO_MODEL} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_VERSION} end
if redis.call('HEXISTS', KEYS[1], MODEL_VALID) == 0 then return {R.INVALID} end
local input_type = redis.call('HGET', KEYS[1], MODEL_INPUT_TYPE)
local app, app_type = conflicting_app(args[1], input_type)
if app then return {R.CONFLICT, app, app_type, input_type} end
redis.call('SELECT', METADATA_DB)
redis.call('SET', KEYS[2], args[2])
return {R.OK}
"""

DELETE_MODEL_VERSION = _PRELUDE + """
-- KEYS[1] model hash (DB 2)
redis.call('SELECT', MODELS_DB)
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.MISSING} end
if redis.call('HEXISTS', KEYS[1], MODEL_VALID) == 0 then return {R.INVALID} end
redis.call('HDEL', KEYS[1], MODEL_VALID)
return {R.OK}
"""

SET_SELECTION_POLICY = _PRELUDE + """
-- KEYS[1] app hash (DB 5), KEYS[2] app's link set (DB 7)
-- args: policy, params JSON, KEYS pattern of the new policy's learned states (DB 1)
redis.call('SELECT', APPS_DB)
if redis.call('EXISTS', KEYS[1]) == 0 then return {R.NO_APP} end
local old = redis.call('HGET', KEYS[1], APP_POLICY) or DEFAULT_POLICY
if args[1] == DEFAULT_POLICY then
  redis.call('SELECT', LINKS_DB)
  local n = redis.call('SCARD', KEYS[2])
  if n > 1 then return {R.TOO_MANY_LINKS, tostring(n)} end
end
if old ~= args[1] then
  -- A new policy learns from scratch, even if the app once had it.
  redis.call('SELECT', STATE_DB)
  for _, key in ipairs(redis.call('KEYS', args[3])) do redis.call('DEL', key) end
end
redis.call('SELECT', APPS_DB)
redis.call('HSET', KEYS[1], APP_POLICY, args[1], APP_PARAMS, args[2])
return {R.OK, old}
"""


class Mutation(enum.Enum):
    """The scripts, by what they do."""

    ADD_APPLICATION = ADD_APPLICATION
    DELETE_APPLICATION = DELETE_APPLICATION
    ADD_MODEL_LINKS = ADD_MODEL_LINKS
    REMOVE_MODEL_LINKS = REMOVE_MODEL_LINKS
    ADD_MODEL = ADD_MODEL
    SET_MODEL_VERSION = SET_MODEL_VERSION
    DELETE_MODEL_VERSION = DELETE_MODEL_VERSION
    SET_SELECTION_POLICY = SET_SELECTION_POLICY

    @property
    def source(self) -> str:
        return str(self.value)


class ScriptRunner:
    """Every script, registered on one client (scripts select their databases themselves)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._scripts = {m: client.register_script(m.source) for m in Mutation}

    async def run(self, mutation: Mutation, keys: Sequence[str], args: Sequence[str | int]) -> ScriptOutcome:
        raw = await self._scripts[mutation](keys=list(keys), args=[*COMMON_ARGV, *args])
        return ScriptOutcome.decode(raw)
