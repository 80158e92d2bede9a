"""Public consent endpoints: the cookie banner and its beacon (views_banner, P07, P08) and the
marketing unsubscribe link (views_unsubscribe, P19). None needs a signed-in user."""

from django.urls import path

from pledge.consent import views_banner, views_unsubscribe

app_name = "consent"

urlpatterns = [
    # the cookie banner served to the shop's site (views_banner)
    path("banner.js", views_banner.banner_js, name="banner_js"),
    path("banner.css", views_banner.banner_css, name="banner_css"),
    path("config.json", views_banner.config, name="config"),
    path("choices", views_banner.choices, name="choices"),
    path("beacon", views_banner.beacon, name="beacon"),
    # marketing unsubscribe, RFC 8058 one-click (views_unsubscribe)
    path("unsubscribe/<str:token>/", views_unsubscribe.unsubscribe, name="unsubscribe"),
]
