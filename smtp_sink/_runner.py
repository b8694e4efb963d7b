"""A minimal sink process: ``python -m smtp_sink._runner --port 0 --db PATH``.

Prints ``PORT <n>`` on stdout once listening, then serves until SIGTERM or SIGINT. Used by the
durability tests (which kill it with SIGKILL) and handy for manual runs. Not the product CLI.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from smtp_sink.config import SinkConfig
from smtp_sink.policies import load_policies
from smtp_sink.schema import create_store_engine
from smtp_sink.server import SinkServer
from smtp_sink.store import SinkStore


async def _serve(args: argparse.Namespace) -> None:
    store = SinkStore(create_store_engine(Path(args.db)))
    store.create_schema()
    config = SinkConfig(
        hostname=args.hostname,
        tls_dir=Path(args.tls_dir) if args.tls_dir else None,
        max_connections=args.max_connections,
    )
    policies = load_policies(Path(args.policies)) if args.policies else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with SinkServer(
        store, host=args.host, port=args.port, config=config, policies=policies
    ) as sink:
        sys.stdout.write(f"PORT {sink.port}\n")
        sys.stdout.flush()
        await stop.wait()
    store.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until told to stop."""
    parser = argparse.ArgumentParser(prog="python -m smtp_sink._runner")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--db", required=True, help="SQLite file for the store")
    parser.add_argument("--hostname", default="sink.localhost")
    parser.add_argument("--tls-dir", default="")
    parser.add_argument("--policies", default="", help="a TOML or YAML policy file")
    parser.add_argument("--max-connections", type=int, default=100)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
