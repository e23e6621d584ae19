from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from telemed.accounts import views as account_views
from telemed.web import views as web_views

urlpatterns = [
    # First: the archive's clients (PACS, viewers) make most requests, and each pattern tried
    # before theirs cost time (the accounts' patterns, included at the root, most of 20 µs).
    path("dicomweb/", include("imaging.urls")),
    path("", web_views.home, name="home"),
    path("login/", account_views.login_view, name="login"),
    path("logout/", account_views.logout_view, name="logout"),
    path("healthz", web_views.health, name="health"),
    path("favicon.ico", web_views.favicon, name="favicon"),
    path("i18n/setlang/", web_views.switch_language, name="set_language"),
    path("", include("telemed.accounts.urls")),
    path("patients/", include("telemed.patients.urls")),
    path("audit/", include("telemed.audit.urls")),
    path("consults/", include("consults.urls")),
    path("video/", include("telemed.video.urls")),
    path("imaging/", include("imaging.page_urls")),
    path("api/v1/", include("telemed.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # DRF exempts its views from LoginRequiredMiddleware; a person opening the docs should be
    # sent to the sign-in page rather than shown a 401.
    path("docs/api/", login_required(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("operators/", admin.site.urls),
]
