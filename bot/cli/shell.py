"""``python -m bot shell``: talk to the assistant in a terminal.

Buttons are numbered; type the number to press one. ``/language xx`` switches
the language, ``/quit`` ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model archive (default: latest in models/)")


async def _loop(assistant) -> None:
    sender = uuid.uuid4().hex
    buttons: list = []
    print("Type a message (/quit to stop).")
    while True:
        try:
            text = input("you> ")
        except EOFError:
            return
        if text.strip() == "/quit":
            return
        if text.strip().isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        elif text.startswith("/language "):
            text = "/set_language" + json.dumps({"language": text.split()[1]})
        buttons = []
        for reply in await assistant.turn(sender, text, {"channel": "shell"}):
            print(f"bot> {reply['text']}")
            for number, button in enumerate(reply.get("buttons", []), start=1):
                print(f"     [{number}] {button['title']}")
            buttons = reply.get("buttons", []) or buttons


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.dialogue.assistant import Assistant

    assistant = Assistant.load(model_path=Path(args.model) if args.model else None)
    asyncio.run(_loop(assistant))
    return 0
