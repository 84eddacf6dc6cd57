from django.urls import path

from lienthong.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.my_dossiers, name="mine"),
    path("lookup/", views.lookup, name="lookup"),
    path("new/<str:procedure_code>/", views.new_dossier, name="new"),
    path("<str:code>/", views.dossier_detail, name="detail"),
    path("<str:code>/withdraw/", views.withdraw, name="withdraw"),
    path("<str:code>/supplement/", views.answer_supplement, name="supplement"),
]
