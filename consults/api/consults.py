"""REST API for consults: the same services and access rules as the pages."""
from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from consults.models import AvailabilityException, AvailabilityRule, Consult, Status, Urgency
from consults.services import availability, bookings, requests
from consults.services.experts import expert_directory, expert_refusal
from telemed import access
from telemed.accounts.models import Specialty, User
from telemed.audit.services import audit_record

_CONSULT_ID = OpenApiParameter("consult_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_USER_ID = OpenApiParameter("user_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class ParticipantSerializer(serializers.Serializer):
    user = serializers.UUIDField(source="user_id")
    name = serializers.CharField(source="user.full_name")
    role = serializers.CharField()


class ConsultSerializer(serializers.ModelSerializer):
    participants = serializers.SerializerMethodField()

    class Meta:
        model = Consult
        fields = [
            "id", "patient", "clinic", "hospital", "specialty", "named_expert", "urgency", "question", "history",
            "preferred_times", "consent_signed_by", "consent_relation", "consent_signed_at", "status", "status_reason",
            "starts_at", "ends_at", "sequence", "created_at", "scheduled_at", "completed_at", "participants",
        ]
        read_only_fields = fields

    def get_participants(self, consult) -> list[dict]:
        return ParticipantSerializer(consult.participants.filter(removed_at__isnull=True).select_related("user"), many=True).data


class ConsultRequestSerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    specialty = serializers.ChoiceField(choices=Specialty.choices)
    named_expert = serializers.UUIDField(required=False, allow_null=True)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.ROUTINE)
    question = serializers.CharField()
    history = serializers.CharField()
    preferred_times = serializers.CharField(required=False, allow_blank=True, max_length=300)
    consent_signed_by = serializers.CharField(max_length=120)
    consent_relation = serializers.ChoiceField(choices=requests.CONSENT_RELATIONS)
    consent_signed_at = serializers.DateTimeField()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class QuestionSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=500)


class AnswerSerializer(serializers.Serializer):
    answer = serializers.CharField()


class BookingSerializer(serializers.Serializer):
    experts = serializers.ListField(child=serializers.UUIDField(), min_length=1, help_text="The first is the lead expert.")
    starts_at = serializers.DateTimeField()
    minutes = serializers.IntegerField(min_value=10, max_value=240, required=False)


class RescheduleSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=500)


class SlotSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


@extend_schema_view(
    retrieve=extend_schema(parameters=[_CONSULT_ID]),
    create=extend_schema(request=ConsultRequestSerializer, responses={201: ConsultSerializer}),
)
class ConsultViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Consults you may see: your clinic's, the ones you take part in, or your hospital's board."""

    serializer_class = ConsultSerializer
    lookup_url_kwarg = "consult_id"
    queryset = Consult.objects.none()

    def get_queryset(self):
        consults = access.visible_consults(self.request.user).order_by("-created_at")
        wanted = self.request.query_params.get("status")
        return consults.filter(status=wanted) if wanted in Status.values else consults

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        audit_record(actor=request.user, action="consult.list", detail={"shown": [c["id"] for c in response.data["results"]]})
        return response

    def retrieve(self, request, consult_id=None):
        return Response(ConsultSerializer(requests.consult_get(by=request.user, consult_id=consult_id)).data)

    def create(self, request):
        incoming = ConsultRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        data["patient"] = get_object_or_404(access.visible_patients(request.user), pk=data["patient"])
        named = data.pop("named_expert", None)
        data["named_expert"] = get_object_or_404(expert_directory(user=request.user), pk=named) if named else None
        consult = requests.consult_request(by=request.user, **data)
        return Response(ConsultSerializer(consult).data, status=status.HTTP_201_CREATED)

    def _act(self, request, consult_id, serializer_class, call):
        consult = requests.consult_get(by=request.user, consult_id=consult_id)
        incoming = serializer_class(data=request.data)
        incoming.is_valid(raise_exception=True)
        return Response(ConsultSerializer(call(consult, incoming.validated_data)).data)

    @extend_schema(request=None, parameters=[_CONSULT_ID], responses=ConsultSerializer)
    @action(detail=True, methods=["post"])
    def triage(self, request, consult_id=None):
        return self._act(request, consult_id, serializers.Serializer, lambda c, d: requests.consult_triage(by=request.user, consult=c))

    @extend_schema(request=QuestionSerializer, parameters=[_CONSULT_ID], responses=ConsultSerializer)
    @action(detail=True, methods=["post"], url_path="ask-info")
    def ask_info(self, request, consult_id=None):
        return self._act(request, consult_id, QuestionSerializer, lambda c, d: requests.consult_ask_info(by=request.user, consult=c, **d))

    @extend_schema(request=AnswerSerializer, parameters=[_CONSULT_ID], responses=ConsultSerializer)
    @action(detail=True, methods=["post"], url_path="add-info")
    def add_info(self, request, consult_id=None):
        return self._act(request, consult_id, AnswerSerializer, lambda c, d: requests.consult_add_info(by=request.user, consult=c, **d))

    @extend_schema(request=ReasonSerializer, parameters=[_CONSULT_ID], responses=ConsultSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, consult_id=None):
        return self._act(request, consult_id, ReasonSerializer, lambda c, d: requests.consult_decline(by=request.user, consult=c, **d))

    @extend_schema(request=ReasonSerializer, parameters=[_CONSULT_ID], responses=ConsultSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, consult_id=None):
        return self._act(request, consult_id, ReasonSerializer, lambda c, d: bookings.consult_cancel(by=request.user, consult=c, **d))

    @extend_schema(request=RescheduleSerializer, parameters=[_CONSULT_ID], responses=ConsultSerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request, consult_id=None):
        return self._act(request, consult_id, RescheduleSerializer, lambda c, d: bookings.consult_reschedule(by=request.user, consult=c, **d))

    @extend_schema(
        request=BookingSerializer, parameters=[_CONSULT_ID],
        responses={200: ConsultSerializer, 409: {"type": "object", "properties": {"detail": {"type": "string"}, "suggestions": {"type": "array", "items": {"type": "object"}}}}},
    )
    @action(detail=True, methods=["post"])
    def book(self, request, consult_id=None):
        """Book one expert (or several: an MDT consult). A clash answers 409 with the next free times."""
        consult = requests.consult_get(by=request.user, consult_id=consult_id)
        incoming = BookingSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        pool = {e.pk: e for e in access.bookable_experts_for(request.user).filter(pk__in=data["experts"])}
        experts = [pool.get(pk) for pk in data["experts"]]
        if None in experts:
            raise PermissionDenied(_("You can book only the specialists of the hospitals you coordinate."))
        try:
            booked = bookings.consult_book(by=request.user, consult=consult, experts=experts, starts_at=data["starts_at"], minutes=data.get("minutes"))
        except bookings.BookingConflict as conflict:
            return Response(
                {"detail": conflict.messages[0], "suggestions": SlotSerializer(conflict.suggestions, many=True).data}, status=status.HTTP_409_CONFLICT
            )
        return Response(ConsultSerializer(booked).data)


class ExpertSerializer(serializers.ModelSerializer):
    bookable = serializers.SerializerMethodField()
    refusal = serializers.SerializerMethodField()
    paired = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "full_name", "paired", "bookable", "refusal"]

    def get_refusal(self, expert) -> str:
        return expert_refusal(expert, self.context.get("specialty") or None)

    def get_bookable(self, expert) -> bool:
        return not self.get_refusal(expert)


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("specialty", str), OpenApiParameter("language", str), OpenApiParameter("q", str)]),
    retrieve=extend_schema(parameters=[_USER_ID]),
)
class ExpertViewSet(viewsets.ReadOnlyModelViewSet):
    """The expert directory; `slots` lists an expert's free times for the next days."""

    serializer_class = ExpertSerializer
    lookup_url_kwarg = "user_id"
    queryset = User.objects.none()

    def get_queryset(self):
        params = self.request.query_params
        return expert_directory(user=self.request.user, specialty=params.get("specialty", ""), language=params.get("language", ""), query=params.get("q", ""))

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "specialty": self.request.query_params.get("specialty", "")}

    @extend_schema(parameters=[_USER_ID, OpenApiParameter("days", int, description="How many days ahead (1–28, default 7).")], responses=SlotSerializer(many=True))
    @action(detail=True, methods=["get"])
    def slots(self, request, user_id=None):
        expert = self.get_object()
        try:
            days = min(max(int(request.query_params.get("days", 7)), 1), 28)
        except ValueError:
            days = 7
        now = timezone.now()
        return Response(SlotSerializer(availability.free_slots(expert, now, now + timedelta(days=days)), many=True).data)


class RuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = AvailabilityRule
        fields = ["id", "expert", "weekday", "starts", "ends", "time_zone", "valid_from", "valid_until"]
        read_only_fields = ["id"]


class ExceptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AvailabilityException
        fields = ["id", "expert", "kind", "starts_at", "ends_at", "reason"]
        read_only_fields = ["id"]


class _HoursViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Consult hours the user may edit: their own, or those of the specialists they coordinate."""

    def get_queryset(self):
        return self.serializer_class.Meta.model.objects.filter(expert__in=access.editable_experts(self.request.user))

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        if not access.editable_experts(self.request.user).filter(pk=data["expert"].pk).exists():
            raise PermissionDenied(_("Only the expert or a coordinator of their hospital can change their consult hours."))
        serializer.instance = self.create_hours(data)


class RuleViewSet(_HoursViewSet):
    serializer_class = RuleSerializer
    lookup_url_kwarg = "rule_id"
    queryset = AvailabilityRule.objects.none()

    def create_hours(self, data):
        return availability.availability_rule_add(by=self.request.user, **data)

    def perform_destroy(self, instance):
        availability.availability_rule_remove(by=self.request.user, rule=instance)


class ExceptionViewSet(_HoursViewSet):
    serializer_class = ExceptionSerializer
    lookup_url_kwarg = "exception_id"
    queryset = AvailabilityException.objects.none()

    def create_hours(self, data):
        return availability.availability_exception_add(by=self.request.user, **data)

    def perform_destroy(self, instance):
        availability.availability_exception_remove(by=self.request.user, exception=instance)
