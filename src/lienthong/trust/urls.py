from django.urls import path

from lienthong.trust import views

app_name = "trust"

urlpatterns = [
    path("validate/", views.validate, name="validate"),
    path("reports/<uuid:record_id>/", views.report, name="report"),
    path("reports/<uuid:record_id>/report.json", views.report_json, name="report-json"),
    path("reports/<uuid:record_id>/report.pdf", views.report_pdf_download, name="report-pdf"),
]
