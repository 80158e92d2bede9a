"""The public complaint form and a complaint's private status page (issue 7; P21, P22).

For people without a privacy-center account: `/complaint/` files a complaint (throttled,
spam-resistant without a third-party captcha), `/complaint/s/<token>/` is the complaint's thread
behind a signed link (complaints/links.py) given on filing and in every email.
"""

from django.urls import path

from pledge.complaints import views_public

app_name = "complaint"

urlpatterns = [
    path("", views_public.start, name="start"),
    path("s/<str:token>/", views_public.status, name="status"),
    path("s/<str:token>/evidence/<uuid:evidence_id>/", views_public.evidence, name="evidence"),
]
