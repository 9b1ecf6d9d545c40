"""The operators' console: the 24-hour centres see and handle the handoff cases.

``console_blueprint(db, texts, settings, handoffs=None)`` returns a Sanic blueprint
mounted at ``/console``: login with lockout, an in-memory session per operator with
an idle expiry (``CONSOLE_IDLE_MINUTES``, default 30; cookies ``Secure`` when
``CONSOLE_SECURE_COOKIES=1``), the queue (and ``queue.json`` polled by
``static/console.js``), a case page with its actions and a supervisor's audit log.
Server-rendered with Jinja2 (autoescape on); no inline script or style.
"""

from bot.console.blueprint import console_blueprint

__all__ = ["console_blueprint"]
