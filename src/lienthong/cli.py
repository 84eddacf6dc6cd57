"""The ``lienthong`` command: manage.py with clearer names.

    lienthong demo [--scenario birth|death] [--single]
                                    the demo network (five nodes on loopback), a dossier
                                    across it, or the embedded one-node demo
    lienthong serve [--exchange]    production server (granian); --exchange: the mutual-TLS
                                    listener for other nodes
    lienthong worker                delivers the exchange's outbox, pulls the directory
    lienthong import-units          administrative units from vietnam-provinces
    lienthong import-agencies       central agencies, committees and departments
    lienthong import-postal-codes   postal codes from the official CSV layout
    lienthong openapi --check       compare the API with the committed document
    lienthong trust list|add|show|enable|disable   the trust list (roots of both hierarchies)
    lienthong pki init|serve|revoke|status         the TEST PKI for demos and tests
    lienthong directory publish|join|pull|status  signed directory snapshots
    lienthong exchange verify-log|evidence|add-system|add-service|grant|…   the exchange
    lienthong catalog seed|holidays                the procedure catalogue, public holidays
    lienthong <django command>      migrate, createsuperuser, check, shell, ...

Hyphenated names map to the management commands of the same name with
underscores, so ``lienthong help import-units`` works as well.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")
    from django.core.management import execute_from_command_line

    from lienthong.config import ConfigurationError

    if len(argv) < 2:
        argv.append("help")
    argv[0] = "lienthong"
    for index in (1, 2):
        if index < len(argv) and not argv[index].startswith("-") and "-" in argv[index]:
            argv[index] = argv[index].replace("-", "_")
        if argv[1] != "help":
            break
    try:
        execute_from_command_line(argv)
    except ConfigurationError as exc:
        # A bad variable is an operator's typo, not a crash: one line, no traceback.
        sys.exit(f"lienthong: configuration error: {exc}")


if __name__ == "__main__":
    main()
