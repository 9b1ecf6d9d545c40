"""``python -m bot serve``: the service on 127.0.0.1:5005 (``--host``, ``--port``).

Serves the REST endpoint, the web chat and the operators' console (``/console``, on
the database of ``DATABASE_URL``, migrated at start), with handoffs to counsellors on;
starts the Telegram connector when ``TELEGRAM_BOT_TOKEN`` is set. Conversations are
kept in the same database (Rasa's SQL tracker store) and, with ``REDIS_URL``, replicas
take turns on a conversation under a Redis lock (``endpoints.yml``): run as many
replicas as needed behind a load balancer, with the same ``CONVERSATION_KEY``.
Prints ``ready on http://HOST:PORT`` once listening. On SIGTERM it drains: ``/readyz``
answers 503 at once so that the load balancer sends no more, requests still arriving
are answered for ``SHUTDOWN_DRAIN_SECONDS`` (default 2), then it stops listening and
finishes the messages in flight before exiting. SIGINT (Ctrl-C) skips the drain.
"""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--model", help="model archive (default: latest in models/)")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from pathlib import Path

    from bot.connectors.service import build_app
    from bot.connectors.telegram_setup import attach_telegram
    from bot.connectors.web import web_blueprint
    from bot.console import console_blueprint
    from bot.dialogue.assistant import Assistant
    from bot.handoff.jobs import HandoffJobs
    from bot.handoff.outbox import Outbox
    from bot.handoff.service import HandoffService
    from bot.observability.metrics import Metrics
    from bot.settings import Settings
    from bot.storage.addresses import AddressBook
    from bot.storage.database import Database

    settings = Settings.from_env()
    database = Database()
    database.migrate()
    assistant = Assistant.load(settings, Path(args.model) if args.model else None,
                               endpoints=settings.root / "endpoints.yml")
    metrics = Metrics(database)
    assistant.metrics = metrics
    outbox = Outbox(database)
    handoffs = HandoffService(database, assistant, outbox,
                              AddressBook(database, settings.conversation_key))
    assistant.handoffs = handoffs
    app = build_app(assistant, settings, web=web_blueprint(assistant, settings), outbox=outbox,
                    database=database, metrics=metrics)
    app.blueprint(console_blueprint(database, assistant.nlg.system_text, settings, handoffs=handoffs,
                                    metrics=metrics))
    telegram = attach_telegram(app, assistant, settings, handoffs.addresses)
    if telegram is not None:
        handoffs.register_channel("telegram", telegram.deliver)

    jobs = HandoffJobs(handoffs)

    async def drain_then_stop() -> None:
        app.ctx.draining = True
        await asyncio.sleep(float(os.environ.get("SHUTDOWN_DRAIN_SECONDS", "2")))
        app.stop()  # Sanic then finishes the requests in flight (GRACEFUL_SHUTDOWN_S)

    @app.listener("after_server_start")
    async def announce(_app, loop) -> None:
        app.ctx.background = [loop.create_task(jobs.run()), loop.create_task(outbox.run())]
        loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(drain_then_stop()))
        loop.add_signal_handler(signal.SIGINT, app.stop)
        print(f"ready on http://{args.host}:{args.port}", flush=True)

    @app.listener("before_server_stop")
    async def stop_jobs(_app, _loop) -> None:
        for task in app.ctx.background:
            task.cancel()

    @app.listener("after_server_stop")
    async def close_database(_app, _loop) -> None:
        database.dispose()

    app.run(host=args.host, port=args.port, access_log=False, motd=False, workers=1,
            register_sys_signals=False)
    return 0
