"""`refuge user / token / audit`: who may use the admin console and API, and what was changed.

A password is read from standard input (one line; typed without echo on a terminal),
or generated and printed once when standard input is empty. A token is printed once
at creation and never again: only its hash is kept.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from refuge.cli.output import EXIT_OK, print_json, print_table
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import accounts, events
from refuge.storage.catalog.events import CLI_ACTOR


def _read_password(prompt: str) -> tuple[str, bool]:
    """(the password, whether it was generated)."""
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if first and getpass.getpass("again: ") != first:
            raise BadInput("password: the two entries differ")
        return (first, False) if first else (accounts.generate_password(), True)
    line = sys.stdin.readline().rstrip("\r\n") if sys.stdin is not None else ""
    return (line, False) if line else (accounts.generate_password(), True)


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    accounts.check_name(args.name)
    accounts.check_role(args.role)
    password, generated = _read_password(f"password for {args.name} (empty: generate one): ")
    engine = catalog.connect(settings.catalog_url)
    accounts.add_user(engine, args.name, args.role, password, CLI_ACTOR)
    print(f"added {args.role} {args.name}")
    if generated:
        print(f"password (shown once): {password}")
    return EXIT_OK


def cmd_user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    accounts.get_user(engine, args.name)
    password, generated = _read_password(f"new password for {args.name} (empty: generate one): ")
    accounts.set_password(engine, args.name, password, CLI_ACTOR)
    print(f"password of {args.name} changed; their sessions are ended")
    if generated:
        print(f"password (shown once): {password}")
    return EXIT_OK


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = accounts.list_users(catalog.connect(settings.catalog_url))
    if args.json:
        print_json(rows)
    elif not rows:
        print("no users yet: add one with `refuge user add NAME --role admin`")
    else:
        print_table(rows, [("NAME", "name"), ("ROLE", "role"), ("CREATED", "created_at"), ("CHANGED", "updated_at")])
    return EXIT_OK


def cmd_user_remove(args: argparse.Namespace, settings: Settings) -> int:
    accounts.remove_user(catalog.connect(settings.catalog_url), args.name, CLI_ACTOR)
    print(f"removed user {args.name}")
    return EXIT_OK


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    token, row = accounts.create_token(catalog.connect(settings.catalog_url), args.name, args.role, CLI_ACTOR)
    if args.json:
        print_json({**row, "token": token})
    else:
        print(f"token {args.name} ({args.role}), shown once; send it as `Authorization: Bearer TOKEN`:\n{token}")
    return EXIT_OK


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = accounts.list_tokens(catalog.connect(settings.catalog_url))
    if args.json:
        print_json(rows)
    elif not rows:
        print("no tokens yet: make one with `refuge token create NAME --role viewer`")
    else:
        print_table(rows, [("NAME", "name"), ("ROLE", "role"), ("STARTS", lambda r: r["prefix"] + "..."),
                            ("CREATED", "created_at"), ("BY", "created_by"),
                            ("LAST USED", lambda r: r["last_used_at"] or "-"),
                            ("REVOKED", lambda r: r["revoked_at"] or "-")])
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    accounts.revoke_token(catalog.connect(settings.catalog_url), args.name, CLI_ACTOR)
    print(f"revoked token {args.name}")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    rows = events.list_events(catalog.connect(settings.catalog_url), kind=args.kind, since=args.since,
                              limit=args.limit)
    if args.json:
        print_json(rows)
    elif not rows:
        print("nothing recorded yet")
    else:
        print_table(rows, [("ID", "id"), ("AT", "at"), ("WHO", "actor"), ("FROM", "source"), ("WHAT", "action"),
                            ("SUBJECT", "subject"), ("DETAIL", lambda r: _detail(r["detail"]))])
    return EXIT_OK


def _detail(detail: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items())[:80]


def add_parsers(sub: Any) -> None:
    user = sub.add_parser("user", help="admin console accounts: add, list, passwd, remove")
    users = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = users.add_parser("add", help="add a user (password from stdin, or generated and printed once)")
    add.add_argument("name")
    add.add_argument("--role", choices=accounts.ROLES, required=True)
    add.set_defaults(handler=cmd_user_add)
    ls = users.add_parser("list", help="list users and their roles")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=cmd_user_list)
    passwd = users.add_parser("passwd", help="set a user's password (from stdin, or generated)")
    passwd.add_argument("name")
    passwd.set_defaults(handler=cmd_user_passwd)
    rm = users.add_parser("remove", help="remove a user and end their sessions")
    rm.add_argument("name")
    rm.set_defaults(handler=cmd_user_remove)

    token = sub.add_parser("token", help="admin API tokens: create, list, revoke")
    tokens = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = tokens.add_parser("create", help="make a token, printed once")
    create.add_argument("name")
    create.add_argument("--role", choices=accounts.ROLES, required=True)
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=cmd_token_create)
    tls = tokens.add_parser("list", help="list tokens (never the tokens themselves)")
    tls.add_argument("--json", action="store_true")
    tls.set_defaults(handler=cmd_token_list)
    revoke = tokens.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("name")
    revoke.set_defaults(handler=cmd_token_revoke)

    audit = sub.add_parser("audit", help="the audit log: every change, who made it, when and from where")
    audit.add_argument("--kind", choices=("change", "alert"))
    audit.add_argument("--since", metavar="TIME", help="ISO 8601 UTC, e.g. 2026-12-01T00:00:00Z")
    audit.add_argument("--limit", type=int, default=100)
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=cmd_audit)
