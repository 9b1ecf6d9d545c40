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
