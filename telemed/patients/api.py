from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from telemed import access
from telemed.accounts.models import Institution
from telemed.patients import services
from telemed.patients.models import Patient, Sex


class PatientSerializer(serializers.ModelSerializer):
    national_id = serializers.CharField(write_only=True, required=False, allow_blank=True, help_text="Resident ID number; never returned.")
    national_id_masked = serializers.CharField(read_only=True)
    institution = serializers.PrimaryKeyRelatedField(
        queryset=Institution.objects.none(),
        error_messages={"does_not_exist": _("You cannot register patients at this institution."), "incorrect_type": _("Give the institution's id.")},
    )
    sex = serializers.ChoiceField(choices=Sex.choices)

    class Meta:
        model = Patient
        fields = ["id", "institution", "mrn", "name", "sex", "birth_date", "national_id", "national_id_masked", "phone", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        # Uniqueness is the service's to check, with messages people can act on.
        validators: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["institution"].queryset = access.patient_registration_institutions(request.user)


class PatientUpdateSerializer(PatientSerializer):
    class Meta(PatientSerializer.Meta):
        read_only_fields = ["institution", "created_at", "updated_at"]
        extra_kwargs = {name: {"required": False} for name in ("mrn", "name", "sex", "birth_date")}


_PATIENT_ID = OpenApiParameter("patient_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("q", str, description="Name, record number or full ID number")], responses=PatientSerializer(many=True)),
    retrieve=extend_schema(parameters=[_PATIENT_ID], responses=PatientSerializer),
    create=extend_schema(request=PatientSerializer, responses={201: PatientSerializer}),
    partial_update=extend_schema(parameters=[_PATIENT_ID], request=PatientUpdateSerializer, responses=PatientSerializer),
)
class PatientViewSet(viewsets.ViewSet):
    """Patients you may see: your clinic's, or those a consult, read or round grants you."""

    lookup_url_kwarg = "patient_id"
    serializer_class = PatientSerializer

    def list(self, request):
        query = request.query_params.get("q", "")[:100]
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(services.patient_search(by=request.user, query=query), request, view=self)
        services.patient_list_record(by=request.user, shown=page, query=query)
        return paginator.get_paginated_response(PatientSerializer(page, many=True).data)

    def retrieve(self, request, patient_id=None):
        return Response(PatientSerializer(services.patient_get(by=request.user, patient_id=patient_id)).data)

    def create(self, request):
        serializer = PatientSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        patient = services.patient_register(by=request.user, **serializer.validated_data)
        return Response(PatientSerializer(patient).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, patient_id=None):
        patient = services.patient_get(by=request.user, patient_id=patient_id)
        serializer = PatientUpdateSerializer(patient, data=request.data, partial=True, context={"request": request})
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        national_id = changes.pop("national_id", None)
        patient = services.patient_update(by=request.user, patient=patient, national_id=national_id, **changes)
        return Response(PatientSerializer(patient).data)
