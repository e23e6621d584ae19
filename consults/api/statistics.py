"""The coordinators' statistics as JSON: the same tables, filters and rules as the page and CSVs."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from consults import statistics, statistics_views
from telemed.audit.services import audit_record


@extend_schema(
    parameters=[
        OpenApiParameter("since", str, description="First month, YYYY-MM (default: 11 months ago)"),
        OpenApiParameter("until", str, description="Last month, YYYY-MM (default: this month)"),
        OpenApiParameter("hospital", OpenApiTypes.UUID, description="One of your hospitals (default: all of them)"),
    ],
    responses={200: {"type": "object", "properties": {table: {"type": "array", "items": {"type": "object"}} for table in statistics.EXPORT_TABLES}}},
)
@api_view(["GET"])
def consult_statistics(request):
    """Consults per month (by specialty, hospital, clinic, pairing), waiting times and expert utilisation."""
    statistics_views.require_reader(request.user)
    form, scope = statistics_views.filtered_scope(request)
    if scope is None:
        return Response(form.errors, status=status.HTTP_400_BAD_REQUEST)
    audit_record(actor=request.user, action="consult.statistics_export", detail={"format": "json", "filters": request.GET.dict()})
    return Response({table: statistics.export_rows(table, scope) for table in statistics.EXPORT_TABLES})
