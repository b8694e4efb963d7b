"""``maildiag sink``: the SMTP sink alone, with its pages and JSON API on HTTP.

Port 0 works for both listeners; the startup line names the ports actually bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
from typing import Any

from maildiag.settings import Settings


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("sink", help="run the SMTP sink alone, with its pages and API")
    parser.add_argument("--host", help="listen address for SMTP and HTTP (default 127.0.0.1)")
    parser.add_argument("--smtp-port", type=int, help="SMTP port (default 2525; 0 picks one)")
    parser.add_argument("--http-port", type=int, help="HTTP port (default 8000; 0 picks one)")
    parser.add_argument("--data", type=Path, help="data directory (default ./data)")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from maildiag.db import create_engine
    from maildiag.runtime import bind_http
    from maildiag.sink.service import run_sink
    from maildiag.sink.token import ensure_sink_token
    from maildiag.web.app import create_sink_app

    overrides = {
        "smtp_host": args.host,
        "http_host": args.host,
        "smtp_port": args.smtp_port,
        "http_port": args.http_port,
        "data_dir": args.data,
    }
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    settings.require_production_secrets()
    settings, token_file = ensure_sink_token(settings)
    if token_file is not None:
        print(f"maildiag sink: the API token is in {token_file}", flush=True)
    sock = bind_http(settings.http_host, settings.http_port)
    engine = create_engine(settings.database)
    try:
        async with run_sink(settings, engine) as sink:
            config = uvicorn.Config(
                create_sink_app(settings, sink),
                log_level="warning",
                proxy_headers=False,
                server_header=False,
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
                await asyncio.sleep(0.05)
            http_port = sock.getsockname()[1]
            print(
                f"maildiag sink: smtp {settings.smtp_host}:{sink.port} "
                f"http http://{settings.http_host}:{http_port}  "
                f"proxy-smtp {settings.smtp_host}:{sink.proxy_port}",
                flush=True,
            )
            try:
                await task
            finally:
                server.should_exit = True
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        sock.close()
        engine.dispose()
    return 0
