"""REST API for the directory, the signed-in user and access tokens; same rules as the pages."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response

from telemed import access
from telemed.accounts.models import AccessToken, Department, Institution, Membership, Pairing, Qualification, User
from telemed.accounts.services import tokens


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "specialty", "name"]


class InstitutionSerializer(serializers.ModelSerializer):
    departments = DepartmentSerializer(many=True, read_only=True)

    class Meta:
        model = Institution
        fields = ["id", "alliance", "kind", "name", "code", "region", "address", "phone", "is_active", "departments"]


class PairingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pairing
        fields = ["id", "hospital", "clinic", "started_on", "ended_on", "note"]


class MembershipSerializer(serializers.ModelSerializer):
    class Meta:
        model = Membership
        fields = ["id", "institution", "role", "department", "is_active"]


class QualificationSerializer(serializers.ModelSerializer):
    years_of_practice = serializers.SerializerMethodField()

    class Meta:
        model = Qualification
        fields = ["id", "licence_number", "title", "specialties", "independent_practice_since", "years_of_practice", "verified_at"]

    def get_years_of_practice(self, obj) -> int:
        return obj.years_of_practice()


class UserSerializer(serializers.ModelSerializer):
    memberships = serializers.SerializerMethodField()
    qualifications = QualificationSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "is_device", "is_active", "memberships", "qualifications"]

    def get_memberships(self, obj) -> list[dict]:
        return MembershipSerializer([m for m in obj.memberships.all() if m.is_active], many=True).data


class MeSerializer(UserSerializer):
    class Meta(UserSerializer.Meta):
        fields = UserSerializer.Meta.fields + ["email", "phone", "language", "time_zone"]


class InstitutionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InstitutionSerializer
    lookup_url_kwarg = "institution_id"

    def get_queryset(self):
        return access.visible_institutions(self.request.user).prefetch_related("departments")


class PairingViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PairingSerializer
    lookup_url_kwarg = "pairing_id"

    def get_queryset(self):
        return access.visible_pairings(self.request.user)


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = UserSerializer
    lookup_url_kwarg = "user_id"

    def get_queryset(self):
        return access.visible_users(self.request.user).prefetch_related("memberships", "qualifications")


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request):
    """The signed-in user (or the owner of the access token), with roles and qualifications."""
    return Response(MeSerializer(request.user).data)


class TokenSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        source="user",
        queryset=User.objects.none(),
        required=False,
        error_messages={"does_not_exist": _("You can issue tokens only for yourself or your alliance's devices.")},
    )
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=AccessToken.Scope.choices), allow_empty=False)

    class Meta:
        model = AccessToken
        fields = ["id", "name", "prefix", "owner", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["owner"].queryset = access.manageable_users(request.user).filter(is_device=True)


class IssuedTokenSerializer(TokenSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = TokenSerializer.Meta.fields + ["secret"]


class TokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your access tokens (and, for administrators, their devices'). DELETE revokes."""

    serializer_class = TokenSerializer
    lookup_url_kwarg = "token_id"

    def get_queryset(self):
        return access.visible_tokens(self.request.user)

    @extend_schema(responses={201: IssuedTokenSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, secret = tokens.token_create(
            owner=data.get("user") or request.user,
            by=request.user,
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data["expires_at"],
        )
        token.secret = secret
        return Response(IssuedTokenSerializer(token, context={"request": request}).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        token = get_object_or_404(self.get_queryset(), pk=kwargs["token_id"])
        tokens.token_revoke(token=token, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
