"""Every Redis access of the query frontend.

- :mod:`.connector`: the clients (one per database, plus the notification
  client) and the one capped exponential backoff they reconnect with;
- :mod:`.follower`: follows the configuration (snapshot on every
  (re)connection, keyspace notifications, periodic resync);
- :mod:`.config_reader`: reads applications, links, models and current
  versions into the in-memory :class:`query_frontend.config.ClusterConfig`;
- :mod:`.writer`: the one task that writes (DB 1 state, DB 3 records);
- :mod:`.replica_records`: this frontend's replica records (DB 3) and its
  liveness key (DB 4);
- :mod:`.selection_state`: the learned selection states (DB 1 hashes).
"""
