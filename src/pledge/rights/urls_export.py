"""Signed, expiring links to a customer's data package (access and portability, issue 6)."""

from django.urls import path

from pledge.rights import views_export

app_name = "data_package"

urlpatterns = [
    path("<str:token>/", views_export.package_page, name="page"),
    path("<str:token>/package.<str:fmt>", views_export.download, name="download"),
]
