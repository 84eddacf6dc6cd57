"""The node operator reads dossiers in the admin, and changes nothing there."""

from __future__ import annotations

from django.urls import reverse

from lienthong.dossiers.tests.conftest import submit


def test_the_operator_reads_a_dossier_and_its_history_but_cannot_change_it(
    people, operator, client
):
    dossier = submit(people.procedure, people.xanh, people.mai)
    client.force_login(operator)

    listing = client.get(reverse("admin:dossiers_dossier_changelist"))
    page = client.get(reverse("admin:dossiers_dossier_change", args=[dossier.pk]))

    assert listing.status_code == 200
    assert dossier.code in listing.content.decode()
    assert page.status_code == 200
    assert "submitted" in page.content.decode()
    assert (
        client.post(reverse("admin:dossiers_dossier_change", args=[dossier.pk]), {}).status_code
        == 403
    )
    assert client.get(reverse("admin:dossiers_dossier_add")).status_code == 403
