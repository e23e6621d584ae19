"""DICOMweb (PS3.18) under /dicomweb/: QIDO-RS, WADO-RS and STOW-RS."""
from django.urls import path, re_path, register_converter

from imaging.dicomweb import views


class UidConverter:
    regex = r"[0-9]+(?:\.[0-9]+)*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class FrameListConverter:
    """Frame numbers, '1' or '1,3,5'; a number of more than ten digits names no frame (and would
    cost Python a long conversion), so its address matches nothing here."""

    regex = r"[0-9]{1,10}(?:,[0-9]{1,10})*"

    def to_python(self, value: str) -> list[int]:
        return [int(n) for n in value.split(",")]

    def to_url(self, value: list[int]) -> str:
        return ",".join(map(str, value))


class AttributePathConverter(UidConverter):
    """A bulk data element: tags and item numbers, '7FE00010' or '00880200/0/7FE00010'."""

    regex = r"[0-9A-Fa-f]{8}(?:/[0-9]+/[0-9A-Fa-f]{8})*"


register_converter(UidConverter, "dicomuid")
register_converter(FrameListConverter, "frames")
register_converter(AttributePathConverter, "attributepath")

app_name = "dicomweb"

_study = "studies/<dicomuid:study_uid>"
_series = f"{_study}/series/<dicomuid:series_uid>"
_instance = f"{_series}/instances/<dicomuid:instance_uid>"

urlpatterns = [
    path("studies", views.StudiesView.as_view(), name="dicomweb-studies"),
    path("series", views.SeriesQidoView.as_view(), name="dicomweb-series"),
    path("instances", views.InstanceQidoView.as_view(), name="dicomweb-instances"),
    path(_study, views.StudyView.as_view(), name="dicomweb-study"),
    path(f"{_study}/metadata", views.MetadataView.as_view(), name="dicomweb-study-metadata"),
    path(f"{_study}/series", views.SeriesQidoView.as_view(), name="dicomweb-study-series"),
    path(f"{_study}/instances", views.InstanceQidoView.as_view(), name="dicomweb-study-instances"),
    path(_series, views.RetrieveView.as_view(), name="dicomweb-series-retrieve"),
    path(f"{_series}/metadata", views.MetadataView.as_view(), name="dicomweb-series-metadata"),
    path(f"{_series}/instances", views.InstanceQidoView.as_view(), name="dicomweb-series-instances"),
    path(_instance, views.RetrieveView.as_view(), name="dicomweb-instance"),
    path(f"{_instance}/metadata", views.MetadataView.as_view(), name="dicomweb-instance-metadata"),
    path(f"{_instance}/frames/<frames:frames>", views.FramesView.as_view(), name="dicomweb-frames"),
    path(f"{_instance}/bulkdata/<attributepath:attribute_path>", views.BulkDataView.as_view(), name="dicomweb-bulkdata"),
    path(f"{_instance}/rendered", views.RenderedView.as_view(), name="dicomweb-instance-rendered"),
    path(f"{_instance}/frames/<frames:frames>/rendered", views.RenderedView.as_view(), name="dicomweb-frame-rendered"),
    path(f"{_instance}/thumbnail", views.ThumbnailView.as_view(), name="dicomweb-instance-thumbnail"),
    path(f"{_series}/rendered", views.RenderedView.as_view(), name="dicomweb-series-rendered"),
    path(f"{_series}/thumbnail", views.ThumbnailView.as_view(), name="dicomweb-series-thumbnail"),
    path(f"{_study}/thumbnail", views.ThumbnailView.as_view(), name="dicomweb-study-thumbnail"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="dicomweb-not-found"),  # last: JSON, not the site's HTML 404
]
