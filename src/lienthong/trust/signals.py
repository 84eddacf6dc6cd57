"""Reactions to trust-list changes.

A saved or deleted trust-list row makes the next JWS verification in this
process re-read the trust-list version at once (validation/jws.py explains
the cache); ``services.switch_enabled``, which writes with ``QuerySet.update``
(no signal), calls the same function. This is a shortcut only: other
processes see none of it; the version re-read every few seconds is what every
process relies on.

``signing_key_changed`` is sent by ``services.switch_enabled`` when it enables
or disables a signing key (again with ``QuerySet.update``): the JWS signer's
per-process state of the key (signing.py) and the exchange's facts forget it.
"""

from __future__ import annotations

import sys

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from lienthong.trust.models import TrustedCertificate

_JWS_MODULE = "lienthong.trust.validation.jws"

# A signing key enabled or disabled without post_save; ``pk``: the key's.
signing_key_changed = Signal()


@receiver(post_save, sender=TrustedCertificate, dispatch_uid="trust-list-changed-save")
@receiver(post_delete, sender=TrustedCertificate, dispatch_uid="trust-list-changed-delete")
def trust_list_changed(**kwargs) -> None:
    # Not imported here if not imported yet: then nothing is cached to forget.
    module = sys.modules.get(_JWS_MODULE)
    if module is not None:
        module.trust_list_changed()
