"""REST API for remote reading: the same services and access rules as the pages."""
from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from consults.api.consults import ReasonSerializer
from consults.models import Urgency
from imaging.models import CriticalAlert, ReadRequest, Report, ReportAddendum, ReportTemplate
from imaging.services import studies
from imaging.services.reading import assignment, critical, reports, requests, worklist
from telemed import access
from telemed.accounts.models import Institution, User

_READ_ID = OpenApiParameter("read_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_VIEWS = [view.key for view in worklist.VIEWS]


class CriticalAlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = CriticalAlert
        fields = ["id", "finding", "raised_by", "raised_at", "escalated_at", "acknowledged_by", "acknowledged_at", "acknowledgement_note"]
        read_only_fields = fields


class ReadSerializer(serializers.ModelSerializer):
    critical_alerts = CriticalAlertSerializer(many=True, read_only=True)

    class Meta:
        model = ReadRequest
        fields = [
            "id", "study", "patient", "clinic", "requested_by", "hospital", "modality", "body_part", "question", "history", "urgency",
            "status", "status_reason", "radiologist", "created_at", "assigned_at", "signed_at", "ended_at", "critical_alerts",
        ]
        read_only_fields = fields


class ReadRequestSerializer(serializers.Serializer):
    study = serializers.UUIDField()
    hospital = serializers.UUIDField(help_text="One of the hospitals the study's clinic is paired with.")
    question = serializers.CharField()
    history = serializers.CharField(required=False, allow_blank=True, default="")
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.ROUTINE)


class AssignSerializer(serializers.Serializer):
    radiologist = serializers.UUIDField()


class ReportAddendumSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportAddendum
        fields = ["id", "author", "text", "signed_at"]
        read_only_fields = ["id", "author", "signed_at"]


class ReportSerializer(serializers.ModelSerializer):
    addenda = ReportAddendumSerializer(many=True, read_only=True)

    class Meta:
        model = Report
        fields = ["id", "read", "template", "technique", "findings", "impression", "critical", "author", "submitted_at", "verifier", "verified_at", "signed_at", "addenda"]
        read_only_fields = fields


class ReportWriteSerializer(serializers.Serializer):
    template = serializers.UUIDField(required=False, allow_null=True)
    technique = serializers.CharField(required=False, allow_blank=True, default="")
    findings = serializers.CharField(allow_blank=True)
    impression = serializers.CharField(required=False, allow_blank=True, default="")
    critical = serializers.BooleanField(required=False, default=False)
    critical_finding = serializers.CharField(required=False, allow_blank=True, default="", help_text="Needed with critical=true: the clinic is alerted at once with it.")


class VerifySerializer(serializers.Serializer):
    technique = serializers.CharField(required=False, allow_blank=True, help_text="Leave out to keep the author's text.")
    findings = serializers.CharField(required=False, allow_blank=True)
    impression = serializers.CharField(required=False, allow_blank=True)


class CriticalSerializer(serializers.Serializer):
    finding = serializers.CharField()


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


@extend_schema_view(
    list=extend_schema(parameters=[
        OpenApiParameter("view", str, enum=_VIEWS, description="Which list: mine, verify, pool (not assigned yet), open, signed, all. Default: your role's."),
        OpenApiParameter("urgency", str, enum=Urgency.values),
        OpenApiParameter("modality", str, description="A DICOM modality code, e.g. CT."),
    ]),
    retrieve=extend_schema(parameters=[_READ_ID]),
    create=extend_schema(request=ReadRequestSerializer, responses={201: ReadSerializer}),
)
class ReadViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Read requests you may see: your clinic's, or those asked of your hospital; most urgent first."""

    serializer_class = ReadSerializer
    lookup_url_kwarg = "read_id"
    queryset = ReadRequest.objects.none()

    def get_queryset(self):
        params = self.request.query_params
        view = params.get("view") if params.get("view") in _VIEWS else worklist.default_view(self.request.user, worklist.waiting_counts(self.request.user))
        return worklist.worklist(by=self.request.user, view=view, urgency=params.get("urgency", ""), modality=params.get("modality", "")).prefetch_related("critical_alerts")

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        worklist.worklist_record(by=request.user, shown=[ReadRequest(pk=r["id"]) for r in response.data["results"]])
        return response

    def retrieve(self, request, read_id=None):
        return Response(ReadSerializer(requests.read_get(by=request.user, read_id=read_id)).data)

    def create(self, request):
        incoming = ReadRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        study = studies.study_get(by=request.user, study_id=data.pop("study"))
        hospital = Institution.objects.filter(pk=data.pop("hospital")).first()
        read = requests.read_request(by=request.user, study=study, hospital=hospital, **data)
        return Response(ReadSerializer(read).data, status=status.HTTP_201_CREATED)

    def _act(self, request, read_id, serializer_class, call, *, output=ReadSerializer, code=status.HTTP_200_OK):
        read = requests.read_get(by=request.user, read_id=read_id)
        incoming = serializer_class(data=request.data)
        incoming.is_valid(raise_exception=True)
        return Response(output(call(read, incoming.validated_data)).data, status=code)

    @extend_schema(request=AssignSerializer, parameters=[_READ_ID], responses=ReadSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, read_id=None):
        """Assign the read, or give it to another radiologist (a coordinator of its hospital)."""

        def call(read, data):
            # Only the hospital's own people: a refusal names the person, so an id from
            # elsewhere must not tell a coordinator whose it is.
            radiologist = (
                User.objects.filter(pk=data["radiologist"], memberships__institution=read.hospital, memberships__is_active=True)
                .distinct().first()
            )
            if radiologist is None:
                raise Http404(_("No such radiologist."))
            return assignment.read_assign(by=request.user, read=read, radiologist=radiologist)

        return self._act(request, read_id, AssignSerializer, call)

    @extend_schema(request=None, parameters=[_READ_ID], responses=ReadSerializer)
    @action(detail=True, methods=["post"])
    def claim(self, request, read_id=None):
        """Take an unassigned read of your hospital (a radiologist)."""
        return self._act(request, read_id, serializers.Serializer, lambda r, d: assignment.read_claim(by=request.user, read=r))

    @extend_schema(request=ReasonSerializer, parameters=[_READ_ID], responses=ReadSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, read_id=None):
        """Hand the read back (the radiologist assigned); the rule or a coordinator reassigns it."""
        return self._act(request, read_id, ReasonSerializer, lambda r, d: assignment.read_release(by=request.user, read=r, **d))

    @extend_schema(request=ReasonSerializer, parameters=[_READ_ID], responses=ReadSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, read_id=None):
        return self._act(request, read_id, ReasonSerializer, lambda r, d: requests.read_decline(by=request.user, read=r, **d))

    @extend_schema(request=ReasonSerializer, parameters=[_READ_ID], responses=ReadSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, read_id=None):
        return self._act(request, read_id, ReasonSerializer, lambda r, d: requests.read_cancel(by=request.user, read=r, **d))

    @extend_schema(methods=["GET"], parameters=[_READ_ID], responses=ReportSerializer)
    @extend_schema(methods=["PUT"], parameters=[_READ_ID], request=ReportWriteSerializer, responses=ReportSerializer)
    @action(detail=True, methods=["get", "put"])
    def report(self, request, read_id=None):
        """GET: the report, if you may see it (final, your draft, or one to verify). PUT: save your draft."""
        read = requests.read_get(by=request.user, read_id=read_id)
        if request.method == "GET":
            report = reports.report_for(by=request.user, read=read)
            if report is None:
                raise Http404(_("There is no report you may see on this read yet."))
            return Response(ReportSerializer(report).data)
        incoming = ReportWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        template_id = data.pop("template", None)
        template = reports.templates_for(read).filter(pk=template_id).first() if template_id else None
        if template_id and template is None:
            return Response({"template": [_("This template is not available for this hospital.")]}, status=status.HTTP_400_BAD_REQUEST)
        data["critical_flag"] = data.pop("critical")
        return Response(ReportSerializer(reports.report_save(by=request.user, read=read, template=template, **data)).data)

    @extend_schema(request=None, parameters=[_READ_ID], responses=ReportSerializer)
    @action(detail=True, methods=["post"])
    def sign(self, request, read_id=None):
        """Sign your report: final now, or handed to a second radiologist where the hospital requires it."""
        return self._act(request, read_id, serializers.Serializer, lambda r, d: reports.report_submit(by=request.user, read=r), output=ReportSerializer)

    @extend_schema(request=VerifySerializer, parameters=[_READ_ID], responses=ReportSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, read_id=None):
        """Verify a report handed in by another radiologist of your hospital (corrections optional); it is final then."""
        return self._act(request, read_id, VerifySerializer, lambda r, d: reports.report_verify(by=request.user, read=r, **d), output=ReportSerializer)

    @extend_schema(request=ReasonSerializer, parameters=[_READ_ID], responses=ReportSerializer)
    @action(detail=True, methods=["post"], url_path="return")
    def send_back(self, request, read_id=None):
        """Send a report awaiting verification back to its author with what to change."""
        return self._act(request, read_id, ReasonSerializer, lambda r, d: reports.report_return(by=request.user, read=r, **d), output=ReportSerializer)

    @extend_schema(request=ReportAddendumSerializer, parameters=[_READ_ID], responses={201: ReportAddendumSerializer})
    @action(detail=True, methods=["post"])
    def addenda(self, request, read_id=None):
        """Add to a signed report (its author or verifier)."""
        call = lambda r, d: reports.addendum_add(by=request.user, read=r, text=d["text"])  # noqa: E731
        return self._act(request, read_id, ReportAddendumSerializer, call, output=ReportAddendumSerializer, code=status.HTTP_201_CREATED)

    @extend_schema(request=CriticalSerializer, parameters=[_READ_ID], responses={201: CriticalAlertSerializer})
    @action(detail=True, methods=["post"])
    def critical(self, request, read_id=None):
        """Report a critical finding (危急值): the clinic is alerted at once."""
        call = lambda r, d: critical.critical_raise(by=request.user, read=r, **d)  # noqa: E731
        return self._act(request, read_id, CriticalSerializer, call, output=CriticalAlertSerializer, code=status.HTTP_201_CREATED)

    @extend_schema(request=AcknowledgeSerializer, parameters=[_READ_ID], responses=CriticalAlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, read_id=None):
        """Acknowledge the read's critical finding (a doctor of the clinic that asked)."""
        return self._act(request, read_id, AcknowledgeSerializer, lambda r, d: critical.critical_acknowledge(by=request.user, read=r, **d), output=CriticalAlertSerializer)


class ReportTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportTemplate
        fields = ["id", "hospital", "modality", "body_part", "language", "name", "technique", "findings", "impression"]
        read_only_fields = fields


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("modality", str), OpenApiParameter("body_part", str), OpenApiParameter("language", str, enum=["zh-hans", "en"]),
]))
class ReportTemplateViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Report templates: the shared ones, and your hospitals' own."""

    serializer_class = ReportTemplateSerializer
    queryset = ReportTemplate.objects.none()

    def get_queryset(self):
        mine = access.active_memberships(self.request.user).values("institution_id")
        templates = ReportTemplate.objects.filter(Q(hospital__isnull=True) | Q(hospital__in=mine), is_active=True)
        params = self.request.query_params
        for name in ("modality", "body_part", "language"):
            if params.get(name):
                templates = templates.filter(**{name: params[name].strip().upper() if name != "language" else params[name].strip()})
        return templates.order_by("modality", "body_part", "language", "name")
