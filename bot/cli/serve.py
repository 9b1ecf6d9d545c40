"""``python -m bot serve``: the service on 127.0.0.1:5005 (``--host``, ``--port``).

Serves the REST endpoint, the web chat and the operators' console (``/console``, on
the database of ``DATABASE_URL``, migrated at start), with handoffs to counsellors on;
starts the Telegram connector when ``TELEGRAM_BOT_TOKEN`` is set. Prints ``ready on http://HOST:PORT`` once listening.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--model", help="model archive (default: latest in models/)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.connectors.rest import WebOutbox
    from bot.connectors.service import build_app
    from bot.connectors.telegram_setup import attach_telegram
    from bot.connectors.web import web_blueprint
    from bot.console import console_blueprint
    from bot.dialogue.assistant import Assistant
    from bot.handoff.jobs import HandoffJobs
    from bot.handoff.service import HandoffService
    from bot.settings import Settings
    from bot.storage.database import Database

    settings = Settings.from_env()
    assistant = Assistant.load(settings, Path(args.model) if args.model else None)
    database = Database()
    database.migrate()
    handoffs = HandoffService(database, assistant)
    assistant.handoffs = handoffs
    outbox = WebOutbox()
    handoffs.register_channel("web", outbox.put)
    app = build_app(assistant, settings, web=web_blueprint(assistant, settings), outbox=outbox,
                    database=database)
    app.blueprint(console_blueprint(database, assistant.nlg.system_text, settings, handoffs=handoffs))
    telegram = attach_telegram(app, assistant, settings)
    if telegram is not None:
        handoffs.register_channel("telegram", telegram.deliver)

    jobs = HandoffJobs(handoffs)

    @app.listener("after_server_start")
    async def announce(_app, loop) -> None:
        app.ctx.jobs = loop.create_task(jobs.run())
        print(f"ready on http://{args.host}:{args.port}", flush=True)

    @app.listener("before_server_stop")
    async def stop_jobs(_app, _loop) -> None:
        app.ctx.jobs.cancel()

    app.run(host=args.host, port=args.port, access_log=False, motd=False, workers=1)
    return 0
