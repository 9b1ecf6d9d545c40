"""``python -m bot classify``: JSON Lines in, one JSON object per line out.

Input lines: ``{"text": "...", "language": "nl"}`` (``language`` optional, a hint).
Output lines: ``language``, ``intent``, ``confidence``, ``distress``,
``emergency``, ``audience``. A line that is not valid JSON gets
``{"error": ...}`` in its place, so output line N always answers input line N.
The model is loaded once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Dict, TextIO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model archive (default: latest in models/)")


def _request(line: str) -> Dict[str, Any]:
    data = json.loads(line)
    if not isinstance(data, dict) or not isinstance(data.get("text", ""), str):
        raise ValueError('each line must be an object with a "text" string')
    return data


async def classify_stream(assistant: Any, lines: TextIO, out: TextIO) -> int:
    from bot.dialogue.signals import signals

    count = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            request = _request(line)
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            out.write(json.dumps({"error": f"invalid input line: {error}"}) + "\n")
            continue
        parse = await assistant.parse(request.get("text", ""), request.get("language"))
        out.write(json.dumps(signals(parse), ensure_ascii=False) + "\n")
        count += 1
    out.flush()
    return count


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.dialogue.assistant import Assistant

    assistant = Assistant.load(model_path=Path(args.model) if args.model else None)
    asyncio.run(classify_stream(assistant, sys.stdin, sys.stdout))
    return 0
