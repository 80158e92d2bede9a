"""The public request form for people without an account (issue 6): file, then prove identity
with a one-time code sent to the email on file, then follow the request's status. The URLs of
the first two steps carry no request id: the answer is the same for every email typed
(views_public.py)."""

from django.urls import path

from pledge.rights import views_public

app_name = "rights"

urlpatterns = [
    path("", views_public.start, name="start"),
    path("verify/", views_public.verify, name="verify"),
    path("<uuid:request_id>/", views_public.status, name="status"),
]
