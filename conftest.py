"""Root conftest: the shared fixtures of lienthong.testing.plugin.

Imported here rather than loaded with ``-p`` because a conftest's fixtures take
precedence over pytest-django's own (``django_db_setup`` is overridden).
"""

from lienthong.testing.plugin import *  # noqa: F403
