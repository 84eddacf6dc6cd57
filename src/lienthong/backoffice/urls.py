from django.urls import path

from lienthong.backoffice import views

app_name = "backoffice"

urlpatterns = [
    path("", views.agencies, name="agencies"),
    path("<str:agency>/", views.queue, name="queue"),
    path("<str:agency>/dossiers/<str:code>/", views.dossier_detail, name="detail"),
    path("<str:agency>/dossiers/<str:code>/<slug:action>/", views.act, name="act"),
]
