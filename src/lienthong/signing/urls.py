from django.urls import path

from lienthong.signing import views

app_name = "signing"

urlpatterns = [
    path("", views.index, name="index"),
    path("keys/", views.request_credential, name="request-credential"),
    path("tokens/", views.issue_token, name="issue-token"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="revoke-token"),
    path("service/token/", views.link_token, name="link-token"),
    path("service/link/", views.link_start, name="link-start"),
    path("service/callback/", views.link_callback, name="link-callback"),
    path("service/unlink/", views.unlink, name="unlink"),
    path("service/authorize/callback/", views.authorize_callback, name="authorize-callback"),
]
