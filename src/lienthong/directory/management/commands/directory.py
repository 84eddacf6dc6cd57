"""lienthong directory publish|join|pull|status: signed directory snapshots.

lienthong directory publish            (the authority) sign a snapshot of this directory
lienthong directory join ANCHOR.json   follow an authority: {"url", "authority", "roots"}
lienthong directory pull               fetch and apply the authority's latest snapshot
lienthong directory status             the anchor and the snapshot in force
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lienthong.directory import snapshots
from lienthong.directory.models import DirectoryAnchor, Snapshot

ACTOR = "cli:directory"


class Command(BaseCommand):
    help = "Publish, follow and inspect signed directory snapshots."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("publish", help="Sign a snapshot of this node's directory.")
        join = actions.add_parser("join", help="Follow a directory authority (anchor file).")
        join.add_argument("anchor", type=Path)
        actions.add_parser("pull", help="Fetch and apply the authority's latest snapshot.")
        actions.add_parser("status", help="The anchor and the snapshot in force.")

    def handle(self, *args, **options):
        try:
            getattr(self, f"handle_{options['action']}")(options)
        except snapshots.SnapshotRefused as refused:
            raise CommandError(f"snapshot refused ({refused.code}): {refused.detail}") from refused

    def handle_publish(self, options) -> None:
        snapshot = snapshots.publish(actor=ACTOR)
        self.stdout.write(
            f"snapshot #{snapshot.serial} published, valid until "
            f"{timezone.localtime(snapshot.valid_until):%d/%m/%Y %H:%M}"
        )

    def handle_join(self, options) -> None:
        path: Path = options["anchor"]
        try:
            anchor = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{path}: cannot read a JSON anchor ({exc})") from exc
        stored = snapshots.join(actor=ACTOR, anchor=anchor)
        self.stdout.write(
            f"following {stored.authority} at {stored.url}; now run: lienthong directory pull"
        )

    def handle_pull(self, options) -> None:
        applied = snapshots.pull(actor=ACTOR)
        if applied is None:
            self.stdout.write("already up to date")
            return
        self.stdout.write(
            f"snapshot #{applied.serial} applied: agencies {applied.agencies_created} created, "
            f"{applied.agencies_updated} updated; nodes {applied.nodes_created} created, "
            f"{applied.nodes_updated} updated; {applied.rights} access rights"
        )

    def handle_status(self, options) -> None:
        anchor = DirectoryAnchor.objects.first()
        published = snapshots.latest_published()
        current = Snapshot.objects.filter(published=False).first()
        if published:
            self.stdout.write(
                f"published: #{published.serial}, valid until {published.valid_until:%d/%m/%Y %H:%M}"
            )
        if anchor is None:
            self.stdout.write("not following any directory authority")
            return
        self.stdout.write(f"following {anchor.authority} at {anchor.url}")
        if current is None:
            raise CommandError("no snapshot applied yet: exchange traffic is refused")
        line = f"snapshot #{current.serial}, valid until {current.valid_until:%d/%m/%Y %H:%M}"
        if snapshots.expired_copy():
            raise CommandError(f"{line}: EXPIRED, exchange traffic is refused")
        self.stdout.write(f"{line} (in force)")
