"""A disposable PostgreSQL database for a benchmark, created when it does not exist yet."""

from __future__ import annotations

from urllib.parse import urlparse


def ensure_database(url: str) -> str:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = f"host={parts.hostname or '127.0.0.1'} port={parts.port or 5432} user={parts.username or 'postgres'}"
    if parts.password:
        admin += f" password={parts.password}"
    with psycopg.connect(f"{admin} dbname=postgres", autocommit=True, connect_timeout=3) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            conn.execute(f'create database "{name}"')
    return url
