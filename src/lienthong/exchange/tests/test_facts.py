"""The directory facts a process keeps for a few seconds (exchange/facts.py)."""

from __future__ import annotations

import time

from lienthong.exchange import facts
from lienthong.exchange.models import AccessRight


def test_a_right_revoked_elsewhere_counts_once_the_facts_expire(node, settings, monkeypatch):
    settings.EXCHANGE_FACTS_SECONDS = 5
    right = AccessRight.objects.get(provider=node.office, consumer=node.ministry)
    assert facts.allowed(node.ministry, node.office, "dossier.status")

    # Another process revokes it: no signal reaches this one.
    AccessRight.objects.filter(pk=right.pk).update(is_enabled=False)
    assert facts.allowed(node.ministry, node.office, "dossier.status")

    monkeypatch.setattr(facts, "_clock", lambda: time.monotonic() + 6)
    assert not facts.allowed(node.ministry, node.office, "dossier.status")


def test_a_change_saved_in_this_process_counts_at_once(node, settings):
    settings.EXCHANGE_FACTS_SECONDS = 5
    right = AccessRight.objects.get(provider=node.office, consumer=node.ministry)
    assert facts.allowed(node.ministry, node.office, "dossier.status")

    right.is_enabled = False
    right.save()

    assert not facts.allowed(node.ministry, node.office, "dossier.status")


def test_without_a_lifetime_every_question_goes_to_the_database(node, settings):
    settings.EXCHANGE_FACTS_SECONDS = 0
    assert facts.allowed(node.ministry, node.office, "dossier.status")

    AccessRight.objects.filter(provider=node.office).update(is_enabled=False)

    assert not facts.allowed(node.ministry, node.office, "dossier.status")
