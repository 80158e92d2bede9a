from django.urls import include, path

from pledge.api.v1 import api
from pledge.policy import views as policy_views

urlpatterns = [
    path("healthz", policy_views.healthz, name="healthz"),
    path("privacy/", include("pledge.policy.urls")),
    path("api/v1/", api.urls),
    path("console/", include("pledge.console.urls")),
]
