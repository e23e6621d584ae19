"""Views that report where the handler ran them (tests/web/test_handler.py)."""
from __future__ import annotations

import asyncio
import os
import threading

from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.utils import translation

from telemed.web.handler import FilesResponse, file_regions

seen: dict = {}  # what the views saw, read by the tests
gate = threading.Event()  # `held` waits on it


def _where() -> tuple[int, int]:
    """This thread, and the database connection it uses."""
    connection.ensure_connection()
    return threading.get_ident(), id(connection.connection)


@login_not_required
def where(request):
    seen.setdefault("views", []).append(_where())
    return JsonResponse({})


@login_not_required
def streamed(request):
    seen["view"] = _where()
    seen["blocks"] = []
    count = int(request.GET.get("blocks", "3"))

    def blocks():
        try:
            for n in range(count):
                seen["blocks"].append(_where())
                yield b"x" * (1024 * 1024)
        finally:
            seen["closed"] = True

    return StreamingHttpResponse(blocks())


@login_not_required
def loop(request):
    async def running_loop():
        return asyncio.get_running_loop()

    seen["loop"] = async_to_sync(running_loop)()
    return HttpResponse(b"ok")


@login_not_required
def held(request):
    seen.setdefault("held", []).append(request.GET["n"])
    gate.wait(10)
    return HttpResponse(request.GET["n"])


urlpatterns = [path("where", where), path("streamed", streamed), path("loop", loop), path("held", held)]


@login_not_required
def from_files(request):
    """A body read from files only, as WADO-RS marks it; its client reads slowly."""
    seen["view"] = _where()
    seen["blocks"] = []

    def blocks():
        for n in range(3):
            seen["blocks"].append(threading.get_ident())
            yield b"x" * (1024 * 1024)

    response = StreamingHttpResponse(blocks())
    response.reads_no_database = True
    return response


urlpatterns.append(path("from-files", from_files))


@login_not_required
def spoken(request):
    """Chooses a language, then streams the active one: from its worker, or from files only."""
    translation.activate("zh-hans")

    def blocks():
        yield translation.get_language().encode()

    response = StreamingHttpResponse(blocks())
    response.reads_no_database = "files" in request.GET
    return response


urlpatterns.append(path("spoken", spoken))


@login_not_required
def regions(request):
    """A file named in the query as FileRegions between two bytes parts, as WADO-RS sends stored files."""
    path_ = request.GET["path"]
    response = FilesResponse(iter([b"head|", *file_regions(path_, os.path.getsize(path_)), b"|tail"]))
    response.reads_no_database = True
    return response


urlpatterns.append(path("regions", regions))
