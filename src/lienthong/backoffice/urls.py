from django.urls import path

from lienthong.backoffice import views

app_name = "backoffice"

urlpatterns = [
    path("", views.agencies, name="agencies"),
    path("<str:agency>/", views.queue, name="queue"),
    path("<str:agency>/intake/", views.intake, name="intake"),
    path("<str:agency>/refunds/", views.refunds, name="refunds"),
    path("<str:agency>/refunds/<int:attempt_id>/refund/", views.refund, name="refund"),
    path(
        "<str:agency>/refunds/<int:attempt_id>/otherwise/",
        views.refund_otherwise,
        name="refund-otherwise",
    ),
    path("<str:agency>/intake/<str:procedure_code>/", views.intake_form, name="intake-form"),
    path("<str:agency>/dossiers/<str:code>/", views.dossier_detail, name="detail"),
    path("<str:agency>/dossiers/<str:code>/receipt/", views.receipt, name="receipt"),
    path(
        "<str:agency>/dossiers/<str:code>/files/<int:attachment_id>/",
        views.attachment,
        name="attachment",
    ),
    path(
        "<str:agency>/dossiers/<str:code>/signature/sms/",
        views.signature_sms,
        name="signature-sms",
    ),
    path(
        "<str:agency>/dossiers/<str:code>/signature/<str:reference>/",
        views.signature_wait,
        name="signature",
    ),
    path(
        "<str:agency>/dossiers/<str:code>/signature/<str:reference>/finish/",
        views.signature_finish,
        name="signature-finish",
    ),
    path("<str:agency>/dossiers/<str:code>/<slug:action>/", views.act, name="act"),
]
