"""Two officers act on the same version of a dossier: one wins, the other is told
clearly, and the dossier changes once."""

import pytest
from django.test import Client

from lienthong.dossiers.models import Dossier, Status

from .conftest import act

pytestmark = pytest.mark.django_db


def test_of_two_officers_on_the_same_version_one_wins_and_the_other_is_told(
    lan, thu, xanh, dossier
):
    first, second = Client(), Client()
    first.force_login(lan)
    second.force_login(thu)
    read_version = dossier.version  # both opened the page at this version

    won = act(first, xanh, dossier, "accept", version=read_version)
    lost = act(second, xanh, dossier, "reject", version=read_version, reason="Thiếu giấy tờ")

    assert won.status_code == 302
    assert lost.status_code == 409
    assert "Người khác vừa thay đổi hồ sơ" in lost.content.decode()
    dossier = Dossier.objects.get(pk=dossier.pk)
    assert dossier.status == Status.ACCEPTED
    assert dossier.version == read_version + 1
    assert list(dossier.events.values_list("action", flat=True)) == ["submitted", "accepted"]
