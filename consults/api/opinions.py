"""REST API for sessions, opinions, addenda, referrals and the notification inbox."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.response import Response

from consults.api.consults import ConsultSerializer
from consults.models import Addendum, Notification, Opinion, Referral
from consults.services import opinions, referrals, requests, sessions
from consults.services.notify import notifications_mark_read, unread_count
from telemed.accounts.models import User

_CONSULT_ID = OpenApiParameter("consult_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_OPINION_ID = OpenApiParameter("opinion_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_REFERRAL_ID = OpenApiParameter("referral_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class AddendumSerializer(serializers.ModelSerializer):
    class Meta:
        model = Addendum
        fields = ["id", "author", "text", "signed_at"]
        read_only_fields = ["id", "author", "signed_at"]


class OpinionSerializer(serializers.ModelSerializer):
    addenda = AddendumSerializer(many=True, read_only=True)
    referral_advice = serializers.ChoiceField(choices=opinions.ReferralAdvice.choices, default=opinions.ReferralAdvice.NONE)

    class Meta:
        model = Opinion
        fields = ["id", "consult", "author", "findings", "impression", "recommendations", "referral_advice", "created_at", "updated_at", "signed_at", "addenda"]
        read_only_fields = ["id", "consult", "author", "created_at", "updated_at", "signed_at"]


@extend_schema(parameters=[_CONSULT_ID], request=None, responses=ConsultSerializer)
@api_view(["POST"])
def session_start(request, consult_id):
    """Start the consult's session (an expert taking part or the coordinator, from 15 minutes before)."""
    consult = requests.consult_get(by=request.user, consult_id=consult_id)
    return Response(ConsultSerializer(sessions.consult_start_session(by=request.user, consult=consult)).data)


@extend_schema(parameters=[_CONSULT_ID], request=None, responses=ConsultSerializer)
@api_view(["POST"])
def session_end(request, consult_id):
    consult = requests.consult_get(by=request.user, consult_id=consult_id)
    return Response(ConsultSerializer(sessions.consult_end_session(by=request.user, consult=consult)).data)


@extend_schema(methods=["GET"], parameters=[_CONSULT_ID], responses=OpinionSerializer(many=True))
@extend_schema(methods=["PUT"], parameters=[_CONSULT_ID], request=OpinionSerializer, responses=OpinionSerializer)
@api_view(["GET", "PUT"])
def consult_opinions(request, consult_id):
    """GET: the opinions you may read (signed ones, and your own draft). PUT: save your own draft."""
    consult = requests.consult_get(by=request.user, consult_id=consult_id)
    if request.method == "GET":
        return Response(OpinionSerializer(opinions.opinions_for(by=request.user, consult=consult), many=True).data)
    incoming = OpinionSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    opinion = opinions.opinion_save(by=request.user, consult=consult, **incoming.validated_data)
    return Response(OpinionSerializer(opinion).data)


@extend_schema(parameters=[_OPINION_ID], request=None, responses=OpinionSerializer)
@api_view(["POST"])
def opinion_sign(request, opinion_id):
    """Sign your opinion; it can then only be added to. The last expert's signature completes the consult."""
    opinion = opinions.opinion_get(by=request.user, opinion_id=opinion_id)
    return Response(OpinionSerializer(opinions.opinion_sign(by=request.user, opinion=opinion)).data)


@extend_schema(parameters=[_OPINION_ID], request=AddendumSerializer, responses={201: AddendumSerializer})
@api_view(["POST"])
def opinion_addendum(request, opinion_id):
    opinion = opinions.opinion_get(by=request.user, opinion_id=opinion_id)
    incoming = AddendumSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    addendum = opinions.addendum_add(by=request.user, opinion=opinion, text=incoming.validated_data["text"])
    return Response(AddendumSerializer(addendum).data, status=status.HTTP_201_CREATED)


class ReferralSerializer(serializers.ModelSerializer):
    class Meta:
        model = Referral
        fields = [
            "id", "consult", "patient", "direction", "from_institution", "to_institution", "reason", "contact", "state",
            "discharge_summary", "created_by", "created_at", "updated_at",
        ]
        read_only_fields = fields


class ReferralCreateSerializer(serializers.Serializer):
    consult = serializers.UUIDField()
    direction = serializers.ChoiceField(choices=Referral.Direction.choices)
    reason = serializers.CharField()
    contact = serializers.UUIDField()


class ReferralUpdateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Referral.State.choices)
    discharge_summary = serializers.CharField(required=False, allow_blank=True, default="")
    reason = serializers.CharField(required=False, allow_blank=True, default="")


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("state", str)], responses=ReferralSerializer(many=True)),
    retrieve=extend_schema(parameters=[_REFERRAL_ID], responses=ReferralSerializer),
    create=extend_schema(request=ReferralCreateSerializer, responses={201: ReferralSerializer}),
    partial_update=extend_schema(parameters=[_REFERRAL_ID], request=ReferralUpdateSerializer, responses=ReferralSerializer),
)
class ReferralViewSet(viewsets.ViewSet):
    """Two-way referrals (双向转诊) you take part in."""

    lookup_url_kwarg = "referral_id"
    serializer_class = ReferralSerializer

    def list(self, request):
        shown = list(referrals.referral_search(by=request.user, state=request.query_params.get("state", ""))[:200])
        referrals.referral_list_record(by=request.user, shown=shown)
        return Response(ReferralSerializer(shown, many=True).data)

    def retrieve(self, request, referral_id=None):
        return Response(ReferralSerializer(referrals.referral_get(by=request.user, referral_id=referral_id)).data)

    def create(self, request):
        incoming = ReferralCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        consult = requests.consult_get(by=request.user, consult_id=data["consult"])
        contact = User.objects.filter(pk=data["contact"]).first()
        referral = referrals.referral_create(by=request.user, consult=consult, direction=data["direction"], reason=data["reason"], contact=contact)
        return Response(ReferralSerializer(referral).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, referral_id=None):
        referral = referrals.referral_get(by=request.user, referral_id=referral_id)
        incoming = ReferralUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return Response(ReferralSerializer(referrals.referral_update(by=request.user, referral=referral, **incoming.validated_data)).data)


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "consult", "link", "title", "body", "created_at", "read_at"]
        read_only_fields = fields


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your notifications, newest first; `read-all` marks them read up to now."""

    serializer_class = NotificationSerializer
    queryset = Notification.objects.none()

    def get_queryset(self):
        return Notification.objects.filter(user=self.request.user)

    @extend_schema(request=None, responses={200: {"type": "object", "properties": {"marked": {"type": "integer"}, "unread": {"type": "integer"}}}})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = notifications_mark_read(user=request.user)
        return Response({"marked": marked, "unread": unread_count(request.user)})
