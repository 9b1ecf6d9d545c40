"""Structured logging without message text: stdlib logging and Rasa's structlog.

Every log line is one JSON object (time, level, logger, message). Rasa logs parse
results (with the text the person wrote) at debug level through structlog: here
every structlog event below WARNING is dropped, and any field that can hold what a
person wrote is removed before anything is rendered.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict

import structlog

# Field names Rasa (and we) use for user text, slots, entities or tracker contents.
SENSITIVE_KEYS = frozenset({
    "text", "response_text", "user_text", "slot_values", "parse_data_text",
    "parse_data_entities", "prediction_events", "tracker_latest_message",
    "prefilled_slots", "message", "response", "slot_candidates", "rasa_event",
    "rasa_events", "tracker_states", "current_states", "old_states", "states",
    "entity", "token_text", "user_message", "json_message", "sender_id",
})


def redact(_: Any, __: str, event_dict: Dict[str, Any]) -> Dict[str, Any]:
    for key in list(event_dict):
        if key in SENSITIVE_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


class JsonFormatter(logging.Formatter):
    """One JSON object per line; exceptions by type and traceback (never user text:
    the project logs no message text, and Rasa's text-bearing logs are off)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str | None = None) -> None:
    """Idempotent; ``LOG_LEVEL`` (default INFO) sets our level, Rasa stays at WARNING."""
    level_name = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("bot").setLevel(level_name)
    for noisy in ("rasa", "tensorflow", "absl", "sanic", "httpx", "telegram", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[redact, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso"),
                    structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )
