from __future__ import annotations

from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied

from telemed import access
from telemed.audit import selectors
from telemed.audit.forms import EventFilterForm
from telemed.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = list(selectors.EXPORT_FIELDS)


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Audit events of your alliance (administrators and auditors); filters as on the audit page."""

    serializer_class = AuditEventSerializer

    def get_queryset(self):
        if not access.can_audit(self.request.user):
            raise PermissionDenied
        events = access.visible_audit_events(self.request.user).order_by("-seq")
        form = EventFilterForm(self.request.query_params)
        if form.is_valid():
            events = selectors.events_filter(events, form.cleaned_data)
        return events
