"""The customer privacy center, /me/ (P04, P16, P18, P24). views_auth: registration, sign-in,
password reset, sessions; views_center: everything behind the sign-in."""

from django.urls import path

from pledge.portal import (
    views_auth,
    views_center,
    views_complaints,
    views_disclosures,
    views_export,
    views_requests,
)

app_name = "portal"

urlpatterns = [
    # account (views_auth)
    path("register/", views_auth.register, name="register"),
    path("verify/<str:token>/", views_auth.verify_email, name="verify"),
    path("login/", views_auth.login, name="login"),
    path("logout/", views_auth.logout, name="logout"),
    path("password-reset/", views_auth.password_reset, name="password_reset"),
    path(
        "password-reset/<str:token>/",
        views_auth.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("password/", views_auth.change_password, name="change_password"),
    path("sessions/", views_auth.sessions, name="sessions"),
    path("sessions/<int:session_id>/revoke/", views_auth.revoke_session, name="revoke_session"),
    # the privacy center (views_center)
    path("", views_center.home, name="home"),
    path("data/", views_center.my_data, name="data"),
    path("data/edit/", views_center.edit_data, name="edit_data"),
    path("consents/", views_center.consents, name="consents"),
    path("consents/<str:purpose>/", views_center.set_consent, name="set_consent"),
    path("receipts/<uuid:receipt_id>/", views_center.receipt, name="receipt"),
    path("marketing/", views_center.marketing, name="marketing"),
    path("access-log/", views_center.access_log, name="access_log"),
    path("policy/", views_center.policy_versions, name="policy"),
    # data-subject requests (views_requests) and the data package download (views_export)
    path("requests/", views_requests.requests_list, name="requests"),
    path("requests/new/", views_requests.new_request, name="new_request"),
    path("requests/<uuid:request_id>/", views_requests.request_detail, name="request_detail"),
    path("requests/<uuid:request_id>/cancel/", views_requests.cancel, name="request_cancel"),
    path(
        "requests/<uuid:request_id>/package.<str:fmt>",
        views_export.download,
        name="request_package",
    ),
    # who received my data (views_disclosures; P11)
    path("disclosures/", views_disclosures.received, name="disclosures"),
    # complaints (views_complaints; P21, P22)
    path("complaints/", views_complaints.complaints_list, name="complaints"),
    path("complaints/new/", views_complaints.new_complaint, name="new_complaint"),
    path("complaints/<uuid:complaint_id>/", views_complaints.complaint_detail, name="complaint"),
    path(
        "complaints/<uuid:complaint_id>/evidence/<uuid:evidence_id>/",
        views_complaints.evidence,
        name="complaint_evidence",
    ),
]
