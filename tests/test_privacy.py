"""What a person writes never reaches the logs."""

from __future__ import annotations

import logging


async def test_turn_logs_no_message_text(assistant, sender, caplog, capsys):
    secret = "my boss took my passport zzqxv-marker"
    caplog.set_level(logging.DEBUG)
    await assistant.turn(sender, secret)
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert "zzqxv" not in everything


def test_log_lines_are_json_objects():
    import json

    from bot.logs import JsonFormatter

    record = logging.LogRecord("bot.example", logging.INFO, __file__, 1, "case %s opened", (7,), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO" and line["logger"] == "bot.example" and line["message"] == "case 7 opened"
