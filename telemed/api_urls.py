"""The REST API, version 1: every app registers its viewsets on one router."""
from django.urls import path
from rest_framework.routers import DefaultRouter

from consults.api import opinions as opinion_api
from consults.api.statistics import consult_statistics
from consults.api.consults import ConsultViewSet, ExceptionViewSet, ExpertViewSet, RuleViewSet
from imaging.api.reading import ReadViewSet, ReportTemplateViewSet
from telemed.accounts.api import InstitutionViewSet, PairingViewSet, TokenViewSet, UserViewSet, me
from telemed.audit.api import AuditEventViewSet
from telemed.patients.api import PatientViewSet

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False
router.register("institutions", InstitutionViewSet, basename="institution")
router.register("pairings", PairingViewSet, basename="pairing")
router.register("users", UserViewSet, basename="user")
router.register("tokens", TokenViewSet, basename="token")
router.register("patients", PatientViewSet, basename="patient")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("consults", ConsultViewSet, basename="consult")
router.register("experts", ExpertViewSet, basename="expert")
router.register("consult-hours", RuleViewSet, basename="consult-hours")
router.register("consult-hours-exceptions", ExceptionViewSet, basename="consult-hours-exception")
router.register("referrals", opinion_api.ReferralViewSet, basename="referral")
router.register("notifications", opinion_api.NotificationViewSet, basename="notification")
router.register("reads", ReadViewSet, basename="read")
router.register("report-templates", ReportTemplateViewSet, basename="report-template")

urlpatterns = [
    path("me/", me, name="me"),
    path("consults/<uuid:consult_id>/session/start/", opinion_api.session_start, name="consult-session-start"),
    path("consults/<uuid:consult_id>/session/end/", opinion_api.session_end, name="consult-session-end"),
    path("consults/<uuid:consult_id>/opinions/", opinion_api.consult_opinions, name="consult-opinions"),
    path("opinions/<uuid:opinion_id>/sign/", opinion_api.opinion_sign, name="opinion-sign"),
    path("opinions/<uuid:opinion_id>/addenda/", opinion_api.opinion_addendum, name="opinion-addendum"),
    path("consult-statistics/", consult_statistics, name="consult-statistics"),
    *router.urls,
]
