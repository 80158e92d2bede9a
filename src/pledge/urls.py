from django.urls import include, path

from pledge.policy import views as policy_views

urlpatterns = [
    path("healthz", policy_views.healthz, name="healthz"),
    path("privacy/", include("pledge.policy.urls")),
]
