from django.urls import path

from lienthong.signing import views

app_name = "signing"

urlpatterns = [
    path("", views.index, name="index"),
    path("keys/", views.request_credential, name="request-credential"),
    path("tokens/", views.issue_token, name="issue-token"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="revoke-token"),
]
