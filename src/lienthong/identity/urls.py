from django.urls import path

from lienthong.identity import password_views, views

app_name = "identity"

urlpatterns = [
    path("", views.security, name="security"),
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-in/verify/", views.sign_in_verify, name="sign-in-verify"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("activity/", views.activity, name="activity"),
    path("sessions/", views.session_list, name="sessions"),
    path("sessions/end-others/", views.sessions_end_others, name="sessions-end-others"),
    path("sessions/<int:pk>/end/", views.session_end, name="session-end"),
    path("password/", password_views.password_change, name="password-change"),
    path("password-reset/", password_views.password_reset, name="password-reset"),
    path("password-reset/sent/", password_views.password_reset_sent, name="password-reset-sent"),
    # "new" first: a token always holds a hyphen, so it is never "new".
    path(
        "password-reset/<uidb64>/new/",
        password_views.password_reset_new,
        name="password-reset-new",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        password_views.password_reset_link,
        name="password-reset-link",
    ),
    path("recovery/", password_views.recovery, name="recovery"),
    path("verify/", views.step_up, name="step-up"),
    path("totp/", views.totp_enrol, name="totp-enrol"),
    path("totp/remove/", views.totp_remove, name="totp-remove"),
    path("backup-codes/", views.backup_codes, name="backup-codes"),
    path("sms/", views.sms_enable, name="sms-enable"),
    path("sms/remove/", views.sms_disable, name="sms-disable"),
    path("passkeys/add/", views.passkey_add, name="passkey-add"),
    path("passkeys/<int:pk>/rename/", views.passkey_rename, name="passkey-rename"),
    path("passkeys/<int:pk>/remove/", views.passkey_revoke, name="passkey-revoke"),
    # The WebAuthn ceremonies (JSON; static/identity/passkeys.js).
    path(
        "passkeys/register/options/",
        views.passkey_register_options,
        name="passkey-register-options",
    ),
    path("passkeys/register/", views.passkey_register, name="passkey-register"),
    path(
        "sign-in/passkey/options/",
        views.passkey_sign_in_options,
        name="passkey-sign-in-options",
    ),
    path("sign-in/passkey/", views.passkey_sign_in, name="passkey-sign-in"),
    path("verify/passkey/options/", views.passkey_verify_options, name="passkey-verify-options"),
    path("verify/passkey/", views.passkey_verify, name="passkey-verify"),
]
