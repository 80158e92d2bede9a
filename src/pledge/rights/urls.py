"""The public request form for people without an account (issue 6): file, then prove identity
with a one-time code sent to the email on file. Placeholder until the views land."""

from django.urls import path

from pledge.rights import views_public

app_name = "rights"

urlpatterns = [
    path("", views_public.start, name="start"),
    path("<uuid:request_id>/verify/", views_public.verify, name="verify"),
]
