from django.urls import path

from lienthong.exchange import views

app_name = "exchange"

urlpatterns = [
    path("peers/", views.peers, name="peers"),
]
