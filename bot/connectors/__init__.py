"""Channels that reach the assistant: the REST/web chat endpoint and Telegram."""
