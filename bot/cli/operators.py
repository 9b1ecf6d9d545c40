"""``python -m bot operators add|list|disable|reset``: operator accounts of the centres.

Passwords are read from the terminal (or one line of standard input when it is not a
terminal), never from the command line, and stored only as argon2 hashes.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from bot.storage.database import Database
from bot.storage.models import CENTRES, ROLES
from bot.storage.repository import (
    CaseError,
    add_operator,
    disable_operator,
    list_operators,
    reset_operator,
)

MIN_PASSWORD = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["add", "list", "disable", "reset"])
    parser.add_argument("login", nargs="?", help="the account (add, disable, reset)")
    parser.add_argument("--centre", choices=CENTRES, help="the operator's centre (add)")
    parser.add_argument("--role", choices=ROLES, default="operator")
    parser.add_argument("--json", action="store_true", help="list as a JSON array")


def _password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Again: "):
            raise SystemExit("the passwords differ")
    else:
        first = sys.stdin.readline().rstrip("\n")
    if len(first) < MIN_PASSWORD:
        raise SystemExit(f"the password needs at least {MIN_PASSWORD} characters")
    return first


def _check(args: argparse.Namespace) -> None:
    if args.action != "list" and not args.login:
        raise SystemExit(f"operators {args.action} needs a login")
    if args.action == "add" and not args.centre:
        raise SystemExit("operators add needs --centre")


def _list(session, as_json: bool) -> None:
    rows = [{"login": o.login, "centre": o.centre, "role": o.role, "disabled": o.disabled,
             "locked_until": o.locked_until.isoformat() if o.locked_until else None}
            for o in list_operators(session)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "disabled" if row["disabled"] else ("locked" if row["locked_until"] else "active")
        print(f"{row['login']}\t{row['centre']}\t{row['role']}\t{state}")


def _change(session, args: argparse.Namespace) -> str:
    if args.action == "add":
        add_operator(session, args.login, args.centre, _password(), args.role)
        return f"added {args.login} ({args.role}, {args.centre})"
    if args.action == "disable":
        disable_operator(session, args.login)
        return f"disabled {args.login}"
    reset_operator(session, args.login, _password())
    return f"reset {args.login}"


def run(args: argparse.Namespace) -> int:
    _check(args)
    database = Database()
    database.migrate()
    try:
        with database.session() as session:
            if args.action == "list":
                _list(session, args.json)
                return 0
            message = _change(session, args)
    except CaseError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(message)
    return 0
