"""Lua scripts that check and write Redis state in one atomic step.

Each admin mutation reads state in several databases (does the app exist?
which apps link this model, with which input type?) before writing. Running
check and write as one script means two concurrent requests can never both
pass a check that only one of them may pass (two registrations of the same
model version, two links to one app).

Every script starts with the database numbers as ``ARGV[1..5]`` (see
:data:`DB_ARGS`) and switches database with ``SELECT``, which inside a
script does not affect the calling connection. Scripts return a table whose
first element is a status word; the rest are details for the message.
Keys are built in Python with :mod:`clipper_protocol.redis_schema` and passed
in; only the model key of a model's *current* version is derived inside a
script (``<name>:<version>``, :func:`~clipper_protocol.redis_schema.model_key`),
because that version is only known once the script has read it.
"""

from __future__ import annotations

from clipper_protocol.redis_schema import RedisDB

DB_ARGS: list[int] = [
    int(RedisDB.MODELS),
    int(RedisDB.APPLICATIONS),
    int(RedisDB.METADATA),
    int(RedisDB.APP_MODEL_LINKS),
    int(RedisDB.STATE),
]
"""``ARGV[1..5]`` of every script; script-specific arguments start at ``ARGV[6]``."""

_PRELUDE = """
local MODELS_DB, APPS_DB, METADATA_DB, LINKS_DB, STATE_DB = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

-- First app (in name order) linked to `model` whose input type is not `input_type`.
local function conflicting_app(model, input_type)
  redis.call('SELECT', LINKS_DB)
  local apps = redis.call('KEYS', '*')
  table.sort(apps)
  for _, app in ipairs(apps) do
    redis.call('SELECT', LINKS_DB)
    if redis.call('SISMEMBER', app, model) == 1 then
      redis.call('SELECT', APPS_DB)
      local app_type = redis.call('HGET', app, 'input_type')
      if app_type and app_type ~= input_type then
        return app, app_type
      end
    end
  end
  return nil, nil
end
"""

ADD_APPLICATION = _PRELUDE + """
-- KEYS[1] app hash (DB 5); ARGV[6..] field, value, ...
redis.call('SELECT', APPS_DB)
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
return {'ok'}
"""

DELETE_APPLICATION = _PRELUDE + """
-- KEYS[1] app hash (DB 5), KEYS[2] app's link set (DB 7), KEYS[3] app's selection state (DB 1)
-- ARGV[6..] patterns of the app's learned selection state (DB 1), one per policy
redis.call('SELECT', APPS_DB)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
redis.call('DEL', KEYS[1])
redis.call('SELECT', LINKS_DB)
redis.call('DEL', KEYS[2])
redis.call('SELECT', STATE_DB)
redis.call('DEL', KEYS[3])
for i = 6, #ARGV do
  for _, key in ipairs(redis.call('KEYS', ARGV[i])) do redis.call('DEL', key) end
end
return {'ok'}
"""

ADD_MODEL_LINKS = _PRELUDE + """
-- KEYS[1] app hash (DB 5), KEYS[2] app's link set (DB 7)
-- ARGV[6] current-version key prefix, ARGV[7] model-key separator,
-- ARGV[8] default selection policy name, ARGV[9..] model names
redis.call('SELECT', APPS_DB)
local app_type = redis.call('HGET', KEYS[1], 'input_type')
if not app_type then return {'no_app'} end
local policy = redis.call('HGET', KEYS[1], 'policy') or ARGV[8]
for i = 9, #ARGV do
  local model = ARGV[i]
  redis.call('SELECT', METADATA_DB)
  local version = redis.call('GET', ARGV[6] .. model)
  if not version then return {'no_model', model} end
  redis.call('SELECT', MODELS_DB)
  local model_type = redis.call('HGET', model .. ARGV[7] .. version, 'input_type')
  if not model_type then return {'no_model', model} end
  if model_type ~= app_type then return {'incompatible', model, model_type, app_type} end
end
local n = #ARGV - 8
if n == 0 then return {'no_models'} end
redis.call('SELECT', LINKS_DB)
if policy ~= ARGV[8] then
  -- A selection policy chooses among several linked models.
  for i = 9, #ARGV do
    if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 1 then return {'already_linked', ARGV[i]} end
  end
  redis.call('SADD', KEYS[2], unpack(ARGV, 9))
  return {'ok', unpack(ARGV, 9)}
end
-- The original's default policy: one model per application.
if n > 1 then return {'too_many', tostring(n)} end
local model = ARGV[9]
if redis.call('SISMEMBER', KEYS[2], model) == 1 then return {'already_linked', model} end
local linked = redis.call('SMEMBERS', KEYS[2])
if #linked > 0 then
  table.sort(linked)
  return {'other_linked', linked[1]}
end
redis.call('SADD', KEYS[2], model)
return {'ok', model}
"""

REMOVE_MODEL_LINKS = _PRELUDE + """
-- KEYS[1] app hash (DB 5), KEYS[2] app's link set (DB 7); ARGV[6..] model names
redis.call('SELECT', APPS_DB)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_app'} end
redis.call('SELECT', LINKS_DB)
for i = 6, #ARGV do
  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 0 then return {'not_linked', ARGV[i]} end
end
if #ARGV >= 6 then redis.call('SREM', KEYS[2], unpack(ARGV, 6)) end
return {'ok'}
"""

ADD_MODEL = _PRELUDE + """
-- KEYS[1] model hash (DB 2), KEYS[2] current-version key (DB 6)
-- ARGV[6] model name, ARGV[7] version, ARGV[8] input type, ARGV[9..] field, value, ...
redis.call('SELECT', MODELS_DB)
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local app, app_type = conflicting_app(ARGV[6], ARGV[8])
if app then return {'conflict', app, app_type} end
-- Model hash first, then the current version: the order the original
-- writes them, which the query frontend's notification handlers expect.
redis.call('SELECT', MODELS_DB)
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('SELECT', METADATA_DB)
redis.call('SET', KEYS[2], ARGV[7])
return {'ok'}
"""

SET_MODEL_VERSION = _PRELUDE + """
-- KEYS[1] model hash of the version (DB 2), KEYS[2] current-version key (DB 6)
-- ARGV[6] model name, ARGV[7] version, ARGV[8] KEYS pattern of the model's versions
redis.call('SELECT', MODELS_DB)
if #redis.call('KEYS', ARGV[8]) == 0 then return {'no_model'} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_version'} end
if redis.call('HEXISTS', KEYS[1], 'valid') == 0 then return {'invalid'} end
local input_type = redis.call('HGET', KEYS[1], 'input_type')
local app, app_type = conflicting_app(ARGV[6], input_type)
if app then return {'conflict', app, app_type, input_type} end
redis.call('SELECT', METADATA_DB)
redis.call('SET', KEYS[2], ARGV[7])
return {'ok'}
"""

DELETE_MODEL_VERSION = _PRELUDE + """
-- KEYS[1] model hash (DB 2)
redis.call('SELECT', MODELS_DB)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if redis.call('HEXISTS', KEYS[1], 'valid') == 0 then return {'invalid'} end
redis.call('HDEL', KEYS[1], 'valid')
return {'ok'}
"""
