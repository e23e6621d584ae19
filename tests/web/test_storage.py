"""A file saved on disk is synced, with the directory entries naming it, before the save returns."""
from __future__ import annotations

import errno
import io
import os

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import TemporaryUploadedFile

from imaging.services.ingest import Status, instance_ingest
from telemed.accounts.models import Role
from telemed.storage import DurableFileSystemStorage, directories_synced_once, written_out
from tests.imaging.corpus import ct_series


@pytest.fixture
def synced(monkeypatch) -> list[tuple[int, int]]:
    """(device, inode) of everything fsync'd or fdatasync'd from now on; the real calls still run."""
    calls: list[tuple[int, int]] = []

    def recording(real):
        def sync(fd: int) -> None:
            real(fd)
            info = os.fstat(fd)
            calls.append((info.st_dev, info.st_ino))
        return sync

    monkeypatch.setattr(os, "fsync", recording(os.fsync))
    monkeypatch.setattr(os, "fdatasync", recording(os.fdatasync))
    return calls


def _identity(path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def test_a_written_file_is_synced_with_its_directory(tmp_path, synced):
    storage = DurableFileSystemStorage(location=tmp_path)
    name = storage.save("notes/report.txt", ContentFile(b"impression: normal"))
    assert _identity(storage.path(name)) in synced
    assert _identity(tmp_path / "notes") in synced


def test_a_spooled_file_moved_into_place_is_synced(tmp_path, settings, synced):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    storage = DurableFileSystemStorage(location=tmp_path / "store")
    spooled = TemporaryUploadedFile("slice.dcm", "application/dicom", 0, None)
    spooled.write(b"\0" * 4096)
    spooled.seek(0)
    name = storage.save("dicom/1/slice.dcm", spooled)
    spooled.close()
    with storage.open(name) as stored:
        assert stored.read() == b"\0" * 4096
    assert _identity(storage.path(name)) in synced


def test_every_directory_that_gained_an_entry_is_synced(tmp_path, synced):
    storage = DurableFileSystemStorage(location=tmp_path)
    (tmp_path / "a").mkdir()
    storage.save("a/b/c/file.bin", ContentFile(b"x"))
    for directory in ("a", "a/b", "a/b/c"):
        assert _identity(tmp_path / directory) in synced, directory
    assert _identity(tmp_path) not in synced  # its entries did not change


def test_a_directory_that_was_there_is_the_only_one_synced(tmp_path, synced):
    storage = DurableFileSystemStorage(location=tmp_path)
    storage.save("a/first.bin", ContentFile(b"1"))
    synced.clear()
    name = storage.save("a/second.bin", ContentFile(b"2"))
    assert sorted(synced) == sorted([_identity(storage.path(name)), _identity(tmp_path / "a")])


@pytest.mark.django_db
def test_an_ingested_instance_is_on_disk_before_it_is_acknowledged(cast, synced):
    result = instance_ingest(stream=io.BytesIO(ct_series(slices=1)[0]), institution=cast.north.clinic, by=cast.north[Role.CLINIC_DOCTOR], source="test")
    assert result.status == Status.STORED
    assert _identity(default_storage.path(result.instance.file.name)) in synced


def test_files_saved_together_sync_their_directory_once_at_the_end(tmp_path, synced):
    storage = DurableFileSystemStorage(location=tmp_path)
    (tmp_path / "dicom").mkdir()
    with directories_synced_once():
        names = [storage.save("dicom/slice.dcm", ContentFile(b"%d" % n)) for n in range(3)]
        assert _identity(tmp_path / "dicom") not in synced
    assert synced.count(_identity(tmp_path / "dicom")) == 1
    assert all(_identity(storage.path(name)) in synced for name in names)


def test_a_file_written_out_early_is_saved_without_a_second_sync(tmp_path, settings, synced):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    storage = DurableFileSystemStorage(location=tmp_path / "store")
    spooled = TemporaryUploadedFile("slice.dcm", "application/dicom", 0, None)
    spooled.write(b"\1" * 4096)
    storage.write_out(spooled)
    written_out(spooled)
    assert _identity(spooled.temporary_file_path()) in synced
    synced.clear()
    name = storage.save("slice.dcm", spooled)
    spooled.close()
    assert _identity(storage.path(name)) not in synced
    assert synced == [_identity(tmp_path / "store"), _identity(tmp_path)]  # the folder is new: its parent gained it


def test_a_file_written_out_early_but_copied_into_place_is_synced_where_it_lands(tmp_path, settings, synced, monkeypatch):
    """A spool on another filesystem than the storage (a tmpfs /tmp) cannot be renamed into place:
    Django copies it, and the copy is what must reach the disk."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    storage = DurableFileSystemStorage(location=tmp_path / "store")

    def across_filesystems(source, destination):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr("django.core.files.move.os.rename", across_filesystems)
    spooled = TemporaryUploadedFile("slice.dcm", "application/dicom", 0, None)
    spooled.write(b"\2" * 4096)
    storage.write_out(spooled)
    name = storage.save("slice.dcm", spooled)
    spooled.close()
    assert (tmp_path / "store" / name).read_bytes() == b"\2" * 4096
    assert _identity(storage.path(name)) in synced
