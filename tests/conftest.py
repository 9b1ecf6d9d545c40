"""Shared fixtures: the real trained model, loaded once for the whole session."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from sanic import Sanic  # noqa: E402

from bot import LANGUAGES  # noqa: E402
from bot.dialogue import assistant as _assistant_module  # noqa: E402,F401 - see below
from bot.settings import Settings  # noqa: E402

# Importing Rasa imports aiogram, which switches asyncio to uvloop's policy. If that
# happened in the middle of the session, loops made before would be plain asyncio loops
# under a policy without a child watcher, and Playwright could not start its driver.
# One policy for the whole session: the standard one (`bot serve` still runs on uvloop).
asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())

# Several Sanic apps start in this one test process (REST, Telegram webhook, console);
# Sanic's start-up optimiser (TouchUp) only supports that in its test mode.
Sanic.test_mode = True


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def assistant(settings):
    """The assistant on the latest model in models/ (`make test` trains it first)."""
    from bot.dialogue.assistant import Assistant

    return Assistant.load(settings)


@pytest.fixture
def sender() -> str:
    return uuid.uuid4().hex


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def numbers(settings):
    """Phone numbers of the data file, by key (emergency, police, helpline, ...)."""
    from bot.content.contacts import contacts

    return {key: c.phone for key, c in contacts(settings.contacts_file).items()}


@pytest.fixture
def redis_server():
    """A Redis server of its own on loopback, for one test (tests/cluster.py)."""
    from tests.cluster import RedisServer

    server = RedisServer()
    server.start()
    yield server
    server.stop()
