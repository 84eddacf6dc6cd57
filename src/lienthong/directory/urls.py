from django.urls import path

from lienthong.directory import views

app_name = "directory"

urlpatterns = [
    path("", views.index, name="index"),
    path("search/", views.search, name="search"),
    path("units/<str:code>/", views.unit_detail, name="unit"),
    path("agencies/", views.agency_list, name="agencies"),
    path("agencies/<str:identifier>/", views.agency_detail, name="agency"),
]
