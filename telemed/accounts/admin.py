from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from telemed.accounts.models import AccessToken, Alliance, Department, Institution, Membership, Pairing, Qualification, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "full_name", "is_device", "is_active", "is_superuser")
    search_fields = ("username", "full_name", "email")
    fieldsets = DjangoUserAdmin.fieldsets + (("Telemed", {"fields": ("full_name", "phone", "language", "time_zone", "is_device")}),)


admin.site.register([Alliance, Institution, Pairing, Department, Membership, Qualification])


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "expires_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash")
