from django.contrib import admin
from django.urls import include, path

from lienthong import views
from lienthong.api import api
from lienthong.exchange import views as exchange_views
from lienthong.signing.api import api as csc_api

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("directory/", include("lienthong.directory.urls")),
    path("trust/", include("lienthong.trust.urls")),
    path("exchange/", include("lienthong.exchange.urls")),
    path("account/signing/", include("lienthong.signing.urls")),
    path("account/", include("lienthong.identity.urls")),
    path("procedures/", include("lienthong.catalog.urls")),
    path("dossiers/", include("lienthong.portal.urls")),
    path("backoffice/", include("lienthong.backoffice.urls")),
    path("results/", include("lienthong.dossiers.urls")),
    path("approvals/", include("lienthong.approvals.urls")),
    path("metrics", exchange_views.metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("csc/v2/", csc_api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

handler404 = "lienthong.views.not_found"
