"""`defkit cache ls | info KEY | rm KEY | gc [--max-size SIZE] [--max-age AGE]`: the local build
cache (`$DEFKIT_CACHE_DIR/builds`)."""

from __future__ import annotations

import json
import time
from typing import Optional

import click

from defkit.errors import UsageError


def _key(text: str) -> str:
    return text.removeprefix("sha256-").removeprefix("sha256:")


def _size(n: int) -> str:
    from defkit.cli.build import _size as size

    return size(n)


@click.group()
def cache() -> None:
    """The local build cache."""


@cache.command("ls")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def ls(as_json: bool) -> int:
    """Entries, least recently used first."""
    from defkit.cache.store import BuildCache

    now = time.time()
    for entry in BuildCache().entries():
        if as_json:
            click.echo(json.dumps({"key": f"sha256-{entry.key}", "size": entry.size,
                                   "digest": entry.digest, "created": entry.created,
                                   "last_used": entry.last_used}))
        else:
            idle = (now - entry.last_used) / 3600
            click.echo(f"sha256-{entry.key}  {_size(entry.size):>10}  used {idle:.1f}h ago")
    return 0


@cache.command()
@click.argument("key")
def info(key: str) -> int:
    """An entry's key document (what it was built from), after checking its content."""
    from defkit.cache.store import BuildCache

    store = BuildCache()
    entry = store.get(_key(key))
    if entry is None:
        raise UsageError(f"{key}: no such cache entry")
    click.echo(json.dumps({"key": f"sha256-{entry.key}", "size": entry.size,
                           "digest": entry.digest, "created": entry.created,
                           "last_used": entry.last_used, "document": entry.document},
                          indent=2, sort_keys=True))
    return 0


@cache.command()
@click.argument("keys", nargs=-1, required=True)
def rm(keys: tuple[str, ...]) -> int:
    """Remove entries."""
    from defkit.cache.store import BuildCache

    store = BuildCache()
    missing = []
    for key in keys:
        with store.locked(_key(key)):
            if not store.remove(_key(key)):
                missing.append(key)
    if missing:
        raise UsageError(f"no such cache entry: {', '.join(missing)}")
    return 0


@cache.command()
@click.option("--max-size", metavar="SIZE", help="Keep at most this much (e.g. 10G).")
@click.option("--max-age", metavar="AGE", help="Remove entries unused for longer (e.g. 30d).")
def gc(max_size: Optional[str], max_age: Optional[str]) -> int:
    """Remove entries, least recently used first (never one a running build holds), what
    dead builds left behind, and the runtime's unpacked copies of images (with --max-age: those
    unused for longer; never one a running command holds)."""
    from defkit.cache.store import BuildCache, parse_age, parse_size
    from defkit.engine.engine import reclaim_dead_work
    from defkit.runtime import gc_unpacked

    reclaimed = reclaim_dead_work(None)
    removed = BuildCache().gc(max_size=parse_size(max_size) if max_size else None,
                              max_age=parse_age(max_age) if max_age else None)
    unpacked = gc_unpacked(max_age=parse_age(max_age) if max_age else None)
    freed = sum(entry.size for entry in removed)
    click.echo(f"removed {len(removed)} entries ({_size(freed)}), "
               f"{len(reclaimed)} work directories of dead builds and "
               f"{len(unpacked)} unpacked images of the runtime")
    return 0
