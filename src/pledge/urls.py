from django.urls import include, path

from pledge.api.v1 import api
from pledge.policy import views as policy_views

urlpatterns = [
    path("healthz", policy_views.healthz, name="healthz"),
    path("privacy/", include("pledge.policy.urls")),
    path("api/v1/", api.urls),
    path("console/", include("pledge.console.urls")),
    path("me/", include("pledge.portal.urls")),
    # Data-subject requests without an account (public form, one-time code) and the signed,
    # expiring links to a customer's data package (issue 6).
    path("request/", include("pledge.rights.urls")),
    path("complaint/", include("pledge.complaints.urls")),
    path("data-package/", include("pledge.rights.urls_export")),
    path("consent/", include("pledge.consent.urls")),
    path("demo-shop/", include("pledge.demoshop.urls")),
    # Django's set_language view: the language switch of the privacy center and policy page.
    path("i18n/", include("django.conf.urls.i18n")),
]
