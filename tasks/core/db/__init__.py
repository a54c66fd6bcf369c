"""Database work for a branch: migrations, seeds, reset, diff, dump/restore and copies.

Modules here return dataclasses and never print; ``tasks/db.py`` renders them. Database drivers
(psycopg, redis, cassandra-driver) are imported inside the functions that use them.
"""
