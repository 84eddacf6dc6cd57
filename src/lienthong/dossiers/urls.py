from django.urls import path

from lienthong.dossiers import views

app_name = "dossiers"

urlpatterns = [
    path("<str:code>/", views.result, name="result"),
    path("<str:code>/verify/", views.verify, name="result-verify"),
]
