from django.urls import path

from lienthong.catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.procedure_list, name="list"),
    path("<str:code>/", views.procedure_detail, name="detail"),
]
