"""WSGI entry point, served by granian (`lienthong serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")

application = get_wsgi_application()
