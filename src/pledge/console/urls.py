"""Console URLs. Each view module belongs to one part of the console (auth, staff, dashboard,
customers, requests, audit); every view except the login flow is wrapped in `access.staff_view`."""

from django.urls import path

from pledge.console import (
    views_aggregates,
    views_audit,
    views_auth,
    views_complaint_reports,
    views_complaints,
    views_customers,
    views_dashboard,
    views_disclosures,
    views_incidents,
    views_requests,
    views_retention,
    views_staff,
)

app_name = "console"

urlpatterns = [
    # sign-in (views_auth)
    path("login/", views_auth.login_password, name="login"),
    path("login/verify/", views_auth.login_second_factor, name="login_otp"),
    path("logout/", views_auth.logout, name="logout"),
    path("password-reset/", views_auth.password_reset, name="password_reset"),
    path(
        "password-reset/<str:uidb64>/<str:token>/",
        views_auth.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("setup/<str:token>/", views_auth.setup_account, name="setup"),
    path("account/", views_auth.account, name="account"),
    # staff management (views_staff; capability manage_staff)
    path("staff/", views_staff.staff_list, name="staff"),
    # dashboard (views_dashboard)
    path("", views_dashboard.dashboard, name="dashboard"),
    # customers (views_customers)
    path("customers/", views_customers.search, name="customers"),
    path("customers/<uuid:customer_id>/", views_customers.customer, name="customer"),
    path(
        "customers/<uuid:customer_id>/break-glass/",
        views_customers.break_glass,
        name="break_glass",
    ),
    # re-secure a customer (views_requests; P20; the owner)
    path(
        "customers/<uuid:customer_id>/resecure/",
        views_requests.resecure_customer,
        name="resecure",
    ),
    # data-subject requests (views_requests; the roles of request_handler_roles)
    path("requests/", views_requests.queue, name="requests"),
    path("requests/new/", views_requests.record_request, name="request_new"),
    path("requests/<uuid:request_id>/", views_requests.request_detail, name="request"),
    # complaints desk (views_complaints; the roles of the policy's `complaints` purpose)
    path("complaints/", views_complaints.queue, name="complaints"),
    path("complaints/new/", views_complaints.record_complaint, name="complaint_new"),
    path("complaints/<uuid:complaint_id>/", views_complaints.complaint_detail, name="complaint"),
    path(
        "complaints/<uuid:complaint_id>/evidence/<uuid:evidence_id>/",
        views_complaints.evidence,
        name="complaint_evidence",
    ),
    # complaint reports (views_complaint_reports; P21 SLA attainment)
    path("complaints/reports/", views_complaint_reports.reports, name="complaint_reports"),
    path(
        "complaints/reports.csv", views_complaint_reports.reports_csv, name="complaint_reports_csv"
    ),
    # incidents: the breach register (views_incidents; P23)
    path("incidents/", views_incidents.incidents, name="incidents"),
    path("incidents/new/", views_incidents.record_incident, name="incident_new"),
    path("incidents/<uuid:incident_id>/", views_incidents.incident_detail, name="incident"),
    path(
        "incidents/<uuid:incident_id>/report/",
        views_incidents.authority_report,
        name="incident_report",
    ),
    path(
        "incidents/<uuid:incident_id>/report.pdf",
        views_incidents.authority_report_pdf,
        name="incident_report_pdf",
    ),
    # disclosures: the register of data given to recipients (views_disclosures; P10, P11)
    path("disclosures/", views_disclosures.register, name="disclosures"),
    path("disclosures/new/", views_disclosures.new_disclosure, name="disclosure_new"),
    path(
        "disclosures/<uuid:disclosure_id>/export.<str:fmt>",
        views_disclosures.export,
        name="disclosure_export",
    ),
    # aggregate statistics safe to share (views_aggregates; P12)
    path("aggregates/", views_aggregates.aggregates, name="aggregates"),
    path("aggregates.csv", views_aggregates.aggregates_csv, name="aggregates_csv"),
    # retention sweeps and their proof-of-deletion reports (views_retention; P17)
    path("retention/", views_retention.runs, name="retention"),
    path("retention/<uuid:run_id>/", views_retention.run_detail, name="retention_run"),
    # audit log (views_audit; capability view_audit)
    path("audit/", views_audit.audit_log, name="audit"),
    path("audit.csv", views_audit.audit_csv, name="audit_csv"),
    path("audit/verify/", views_audit.audit_verify, name="audit_verify"),
]
