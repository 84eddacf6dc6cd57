from django.urls import path

from lienthong.approvals import views

app_name = "approvals"

urlpatterns = [
    # The computer, signed in: paired phones.
    path("devices/", views.devices, name="devices"),
    path("devices/pair/", views.pair_start, name="pair-start"),
    path("devices/<int:pk>/revoke/", views.device_revoke, name="device-revoke"),
    # The phone, pairing (not signed in: the one-time code is the proof).
    path("pair/", views.pair_code, name="pair-code"),
    path("pair/confirm/", views.pair_confirm, name="pair-confirm"),
    path("pair/options/", views.pair_options, name="pair-options"),
    path("pair/register/", views.pair_register, name="pair-register"),
    path("pair/<str:token>/", views.pair_link, name="pair-link"),
    # The phone's app (known by its cookie; approving needs its passkey).
    path("app/", views.app, name="app"),
    path("app/offline/", views.app_offline, name="app-offline"),
    path("app/connect/options/", views.app_connect_options, name="app-connect-options"),
    path("app/connect/", views.app_connect, name="app-connect"),
    path("app/requests/<uuid:pk>/", views.app_request, name="app-request"),
    path(
        "app/requests/<uuid:pk>/options/",
        views.app_approve_options,
        name="app-approve-options",
    ),
    path("app/requests/<uuid:pk>/approve/", views.app_approve, name="app-approve"),
    path("app/requests/<uuid:pk>/deny/", views.app_deny, name="app-deny"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service-worker"),
    # The computer, signing in: the second step answered on the phone.
    path("sign-in/", views.sign_in_start, name="sign-in-start"),
    path("sign-in/wait/", views.sign_in_wait, name="sign-in-wait"),
    # The computer, signed in: confirming it is you before a sensitive action.
    path("step-up/", views.step_up_start, name="step-up-start"),
    path("step-up/wait/", views.step_up_wait, name="step-up-wait"),
]
