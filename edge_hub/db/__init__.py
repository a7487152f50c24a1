"""The hub's SQLite database: every table and migration (schema), connections and the ingest commit
(store), write transactions (tx)."""
