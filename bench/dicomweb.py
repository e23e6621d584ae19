"""DICOMweb figures for our archive and for Orthanc: the same HTTP client, the same generated corpus.

    bash scripts/with-services.sh bash bench/orthanc.sh .venv/bin/python bench/dicomweb.py --target both
    bash scripts/with-services.sh .venv/bin/python bench/dicomweb.py --target ours [--processes 2]
    bash bench/orthanc.sh .venv/bin/python bench/dicomweb.py --target orthanc

Ours runs in its production shape: PostgreSQL and Redis (scripts/with-services.sh), several daphne
processes sharing one listening socket (--processes, 2 by default: one per core of the
development machine), DEBUG off, files on disk, a clinic doctor's token with dicom:read and
dicom:write. Orthanc is Debian's 1.10 with its DICOMweb plugin, stock settings (bench/orthanc.sh).
Targets run one after the other, never at the same time.

Each target gets the same corpus, generated afresh with fixed UIDs and pixels:
1. filler: --filler instances (19,000 by default) of 64×64 CT in 500 studies of 250 patients over
   two years, so that queries run against an archive of about 20,000 instances; small images keep
   the disk and the time down and do not change what a query has to search;
2. a viewer study: one series of 125 slices of 512×512 16-bit CT (0.5 MB each);
3. for each STOW-RS row, --stow-instances fresh 512×512 slices in series of 50.
Measured rows: STOW-RS instances/s and MB/s (batch 1 and 50; 1 and 4 clients); QIDO-RS p50/p95
(studies by PatientID, by date range, series of a study, instances of the 125-slice series);
WADO-RS whole series MB/s; one frame after another for every slice of the series (latency and
frames/s, and frames/s with 4 connections as a viewer prefetching); rendered JPEG latency.
The load average before each target is printed: the figures are only comparable on a quiet machine.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pydicom
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from _setup import percentile

UID_ROOT = "1.2.826.0.1.3680043.8.498."
SEED = "telemed-dicomweb-bench-1"
MB = 1024 * 1024
VIEWER_SLICES = 125
FILLER_STUDIES = 500
DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'


# The corpus --------------------------------------------------------------------------------------

def uid(*parts) -> str:
    """The same UID for the same parts on every run, so both targets get the same corpus."""
    # pydicom joins the sources without a separator: ("a-1", "11") and ("a-11", "1") would collide
    return str(generate_uid(prefix=UID_ROOT, entropy_srcs=["|".join([SEED, *map(str, parts)])]))


def _phantom(size: int, slice_no: int) -> bytes:
    """A chest-like slice: body, two lungs, a spine, noise; stored values are HU + 1024."""
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    hu = np.full((size, size), -1000.0)
    hu[(x / 0.42) ** 2 + (y / 0.32) ** 2 < 1] = 40
    lung = 0.12 + 0.02 * np.sin(slice_no / 20)
    hu[((x - 0.17) / lung) ** 2 + (y / 0.2) ** 2 < 1] = -850
    hu[((x + 0.17) / lung) ** 2 + (y / 0.2) ** 2 < 1] = -850
    hu[(x / 0.05) ** 2 + ((y - 0.22) / 0.05) ** 2 < 1] = 700
    hu += np.random.default_rng(slice_no).normal(0, 12, (size, size))
    return np.clip(hu + 1024, 0, 4095).astype("<u2").tobytes()


@dataclass(frozen=True)
class Slice:
    study: str
    series: str
    sop: str
    number: int


def ct_instance(s: Slice, *, patient: int, study_date: date, size: int, series_number: int = 1) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, s.sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = CTImageStorage, s.sop, s.study, s.series
    ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientBirthDate = f"BENCH^P{patient:05d}", f"P{patient:05d}", "FM"[patient % 2], "19600101"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = study_date.strftime("%Y%m%d"), "093000", f"A{patient:05d}"
    ds.Modality, ds.StudyDescription, ds.SeriesDescription, ds.BodyPartExamined = "CT", "CT chest", "axial", "CHEST"
    ds.SeriesNumber, ds.InstanceNumber, ds.StudyID = series_number, s.number, "1"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelSpacing, ds.SliceThickness, ds.ImagePositionPatient = [0.7, 0.7], 1.0, [0, 0, float(s.number)]
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, -600, 1500
    ds.PixelData = _phantom(size, s.number)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def series_slices(study: str, series: str, count: int) -> list[Slice]:
    study_uid, series_uid = uid(study), uid(study, series)
    return [Slice(study_uid, series_uid, uid(study, series, n), n) for n in range(1, count + 1)]


def filler_batches(total: int, batch: int) -> Iterator[list[bytes]]:
    """`total` small instances: FILLER_STUDIES studies of 2 series, 2 studies per patient."""
    per_series = max(total // (FILLER_STUDIES * 2), 1)
    pending: list[bytes] = []
    for n in range(FILLER_STUDIES):
        patient, day = n // 2 + 1, date(2023, 1, 1) + timedelta(days=(n * 7919) % 730)
        for series_number in (1, 2):
            for s in series_slices(f"filler-{n}", str(series_number), per_series):
                pending.append(ct_instance(s, patient=patient, study_date=day, size=64, series_number=series_number))
                if len(pending) == batch:
                    yield pending
                    pending = []
    if pending:
        yield pending


def multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = "bench-" + uid("boundary")[-16:]
    body = b"".join(b"--%s\r\nContent-Type: application/dicom\r\n\r\n%s\r\n" % (boundary.encode(), p) for p in parts)
    return body + b"--%s--\r\n" % boundary.encode(), f'multipart/related; type="application/dicom"; boundary={boundary}'


# The client, the same for every target -----------------------------------------------------------

def cpu_seconds(pids: list[int]) -> float:
    """CPU time used by these processes and by their children that have ended."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grown = {root}, True
    while grown:
        before = len(tree)
        tree |= {pid for pid, parent in parents.items() if parent in tree}
        grown = len(tree) > before
    return sorted(tree)


class Client:
    """One DICOMweb root seen over HTTP/1.1 keep-alive, one session per thread.

    `server_cpu()` is the CPU time the server's processes (database included) have used so far:
    on a busy machine it shows what a request costs better than the wall clock does.
    """

    def __init__(self, base: str, headers: dict[str, str], server_cpu: Callable[[], float]) -> None:
        self.base, self.headers, self.local = base.rstrip("/"), headers, threading.local()
        self.server_cpu = server_cpu

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            self.local.session.headers.update(self.headers)
        return self.local.session

    def stow(self, body: bytes, content_type: str) -> None:
        response = self.session().post(self.base + "/studies", data=body, headers={"Content-Type": content_type, "Accept": "application/dicom+json"}, timeout=600)
        if response.status_code != 200:
            try:
                failed = response.json().get("00081198", {}).get("Value", [])
                reasons = sorted({item.get("00000902", {}).get("Value", ["?"])[0] for item in failed})
            except ValueError:
                reasons = [response.text[:300]]
            raise RuntimeError(f"STOW-RS answered {response.status_code}: {reasons}")

    def get(self, path: str, accept: str) -> tuple[int, float]:
        """Bytes received and seconds taken for a GET that must succeed; the body is read to its end."""
        began = time.perf_counter()
        with self.session().get(self.base + path, headers={"Accept": accept}, timeout=600, stream=True) as response:
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
            size = sum(len(chunk) for chunk in response.iter_content(MB))
        return size, time.perf_counter() - began


def in_parallel(clients: int, jobs: list, work: Callable) -> float:
    """Run work(job) for every job on `clients` threads; the wall time in seconds."""
    pending: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        pending.put(job)
    errors: list[BaseException] = []

    def worker() -> None:
        while not errors:
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                work(job)
            except BaseException as exc:  # shown below: a benchmark must not hide failures
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - began


@dataclass
class Corpus:
    filler: list[tuple[bytes, str]]  # multipart bodies of 50 small instances
    filler_count: int
    viewer: list[Slice]
    viewer_bodies: list[tuple[bytes, str]]
    stow: dict[tuple[int, int], tuple[list[tuple[bytes, str]], int, int]]  # (batch, clients) → bodies, instances, bytes


STOW_ROWS = ((1, 1), (50, 1), (1, 4), (50, 4))


def stow_files(prefix: str, count: int) -> list[bytes]:
    """`count` fresh 512×512 CT slices to store, 50 to a study (one patient each)."""
    return [
        ct_instance(s, patient=9000 + k, study_date=date(2025, 1, 1), size=512)
        for k in range(-(-count // 50))
        for s in series_slices(f"{prefix}-{k}", "1", 50)
    ][:count]


def build_corpus(filler: int, stow_instances: int) -> Corpus:
    began = time.perf_counter()
    bodies = [multipart(batch) for batch in filler_batches(filler, 50)]
    viewer = series_slices("viewer", "1", VIEWER_SLICES)
    viewer_files = [ct_instance(s, patient=1, study_date=date(2024, 3, 15), size=512, series_number=3) for s in viewer]
    stow = {}
    for batch, clients in STOW_ROWS:
        files = stow_files(f"stow-{batch}-{clients}", stow_instances)
        stow[batch, clients] = ([multipart(files[i:i + batch]) for i in range(0, len(files), batch)], len(files), sum(map(len, files)))
    count = sum(body.count(b"Content-Type: application/dicom") for body, _ in bodies)
    print(f"corpus: {count:,} filler instances of 64×64, {VIEWER_SLICES} viewer slices and "
          f"{len(STOW_ROWS)}×{stow_instances} STOW-RS slices of 512×512 ({len(viewer_files[0]) / MB:.2f} MB each), made in {time.perf_counter() - began:.0f} s")
    return Corpus(bodies, count, viewer, [multipart(viewer_files[i:i + 25]) for i in range(0, len(viewer_files), 25)], stow)


# The rows ----------------------------------------------------------------------------------------

@dataclass
class Row:
    label: str
    text: str  # what the table shows
    value: float  # the figure compared between targets
    higher_is_better: bool
    cpu_ms: float = 0.0  # server CPU per instance, request or frame




def stow_row(client: Client, corpus: Corpus, batch: int, clients: int) -> Row:
    bodies, instances, size = corpus.stow[batch, clients]
    before = client.server_cpu()
    wall = in_parallel(clients, bodies, lambda body: client.stow(*body))
    label = f"STOW-RS, batch {batch}, {clients} client{'s' if clients > 1 else ''}"
    cpu = (client.server_cpu() - before) * 1000 / instances
    return Row(label, f"{instances / wall:.0f} instances/s, {size / MB / wall:.0f} MB/s", instances / wall, True, cpu)


def latency_row(label: str, timings: list[float], cpu_ms: float, note: str = "") -> Row:
    ms = [t * 1000 for t in timings]
    p50, p95 = percentile(ms, 50), percentile(ms, 95)
    return Row(label, f"p50 {p50:.1f} ms, p95 {p95:.1f} ms{note}", p95, False, cpu_ms)


def timed(client: Client, paths: list[str], accept: str, *, clients: int = 1, at_least: int = 0) -> tuple[list[float], float, float]:
    """GET every path (on `clients` connections): the latencies, the wall time and server CPU ms per GET."""
    timings: list[float] = []

    def get(path: str) -> None:
        size, seconds = client.get(path, accept)
        if size < at_least:
            raise RuntimeError(f"{path} came back with only {size} bytes")
        timings.append(seconds)

    before = client.server_cpu()
    wall = in_parallel(clients, paths, get)
    return timings, wall, (client.server_cpu() - before) * 1000 / len(paths)


def qido_rows(client: Client, corpus: Corpus, repeats: int) -> list[Row]:
    viewer = corpus.viewer[0]
    queries = [
        ("QIDO-RS studies by PatientID", "/studies?PatientID=P00123"),
        ("QIDO-RS studies by date range (a month)", "/studies?StudyDate=20240301-20240331"),
        ("QIDO-RS series of a study", f"/studies/{viewer.study}/series"),
        (f"QIDO-RS instances of a {VIEWER_SLICES}-slice series", f"/studies/{viewer.study}/series/{viewer.series}/instances"),
    ]
    rows = []
    for label, path in queries:
        response = client.session().get(client.base + path, headers={"Accept": "application/dicom+json"}, timeout=60)
        response.raise_for_status()
        matches = len(response.json())
        timed(client, [path] * 3, "application/dicom+json")
        timings, _wall, cpu = timed(client, [path] * repeats, "application/dicom+json")
        rows.append(latency_row(label, timings, cpu, f" ({matches} match{'es' if matches != 1 else ''})"))
    return rows


def wado_rows(client: Client, corpus: Corpus, repeats: int) -> list[Row]:
    viewer = corpus.viewer
    series = f"/studies/{viewer[0].study}/series/{viewer[0].series}"
    timed(client, [series], DICOM_ACCEPT)
    timings, _wall, cpu = timed(client, [series] * repeats, DICOM_ACCEPT, at_least=VIEWER_SLICES * 512 * 512 * 2)
    size = client.get(series, DICOM_ACCEPT)[0]
    rate = size / MB / percentile(timings, 50)
    rows = [Row(f"WADO-RS whole series ({VIEWER_SLICES} × 0.5 MB)", f"{rate:.0f} MB/s", rate, True, cpu)]
    frames = [f"{series}/instances/{s.sop}/frames/1" for s in viewer] * 2
    timings, wall, cpu = timed(client, frames, FRAME_ACCEPT, at_least=512 * 512 * 2)
    rows.append(latency_row("WADO-RS single frame, one after another", timings, cpu))
    rows.append(Row("WADO-RS frames/s, every frame of the series, 1 connection", f"{len(frames) / wall:.0f} frames/s", len(frames) / wall, True, cpu))
    _timings, wall, cpu = timed(client, frames, FRAME_ACCEPT, clients=4, at_least=512 * 512 * 2)
    rows.append(Row("WADO-RS frames/s, every frame of the series, 4 connections", f"{len(frames) / wall:.0f} frames/s", len(frames) / wall, True, cpu))
    timings, _wall, cpu = timed(client, [f"{series}/instances/{s.sop}/rendered" for s in viewer], "image/jpeg", at_least=1000)
    rows.append(latency_row("WADO-RS rendered JPEG of a 512×512 slice", timings, cpu))
    return rows


def run(client: Client, corpus: Corpus, repeats: int) -> list[Row]:
    print(f"  load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    wall = in_parallel(4, corpus.filler, lambda body: client.stow(*body))
    print(f"  filler: {corpus.filler_count:,} instances stored in {wall:.0f} s ({corpus.filler_count / wall:.0f} instances/s, batch 50, 4 clients)")
    in_parallel(1, corpus.viewer_bodies, lambda body: client.stow(*body))
    rows = []
    for batch, clients in STOW_ROWS:
        rows.append(stow_row(client, corpus, batch, clients))
        print(f"  {rows[-1].label}: {rows[-1].text}; server CPU {rows[-1].cpu_ms:.1f} ms an instance")
    for row in qido_rows(client, corpus, repeats) + wado_rows(client, corpus, repeats=5):
        rows.append(row)
        print(f"  {row.label}: {row.text}; server CPU {row.cpu_ms:.1f} ms a request")
    print(f"  load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return rows


# The targets -------------------------------------------------------------------------------------

def _our_token() -> str:
    from django.utils import timezone

    from telemed.accounts.models import Alliance, Institution, Membership, Role, User
    from telemed.accounts.services.tokens import token_create

    alliance = Alliance.objects.create(name="Bench alliance")
    clinic = Institution.objects.create(alliance=alliance, kind="clinic", name="Bench clinic", code="B-C")
    doctor = User.objects.create(username="bench-doctor", full_name="Doctor")
    Membership.objects.create(user=doctor, institution=clinic, role=Role.CLINIC_DOCTOR)
    expires = timezone.now() + timedelta(days=1)
    return token_create(owner=doctor, by=doctor, name="bench PACS", scopes=["dicom:read", "dicom:write"], expires_at=expires)[1]


def _durable_postgres() -> None:
    """Undo scripts/with-services.sh's test shortcuts (fsync off): Orthanc's SQLite index syncs,
    so ours must too for a fair STOW-RS figure. The throwaway cluster's superuser may do this."""
    import psycopg

    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")
    superuser = url.split("//", 1)[0] + "//postgres@" + url.split("@", 1)[1].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(superuser, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = on")
        conn.execute("SELECT pg_reload_conf()")


@contextmanager
def _daphne(processes: int, log: Path) -> Iterator[tuple[str, list[int]]]:
    """`processes` daphne processes accepting on one listening socket, as behind a load balancer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    command = [sys.executable, "-m", "telemed.web.server", "--fd", str(listener.fileno()), "telemed.asgi:application"]
    with log.open("wb") as out:
        children = [subprocess.Popen(command, pass_fds=(listener.fileno(),), stdout=out, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1]) for _ in range(processes)]
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or slow to answer on a busy machine
                pass
            if time.monotonic() > deadline or any(child.poll() is not None for child in children):
                raise SystemExit("daphne did not start:\n" + log.read_text()[-2000:])
            time.sleep(0.2)
        yield base, [child.pid for child in children]
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)
        listener.close()


@contextmanager
def ours(processes: int) -> Iterator[Client]:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Our server is measured on PostgreSQL and Redis: run under scripts/with-services.sh.")
    data_dir = Path(tempfile.mkdtemp(prefix="dicomweb-bench-"))
    os.environ["DATA_DIR"] = str(data_dir)  # keys are generated here once and read by every daphne
    try:
        from _setup import scratch_database

        scratch_database()
        _durable_postgres()
        token = _our_token()
        from django.db import connection, connections

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        connections.close_all()
        with _daphne(processes, data_dir / "daphne.log") as (base, daphnes):
            print(f"ours: {processes} daphne processes on {base}, PostgreSQL (fsync on), Redis, files in {data_dir}")
            server_cpu = lambda: cpu_seconds(daphnes + process_tree(postmaster))  # noqa: E731
            yield Client(base + "/dicomweb", {"Authorization": f"Bearer {token}"}, server_cpu)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def orthanc() -> Iterator[Client]:
    url = os.environ.get("ORTHANC_URL")
    if not url:
        raise SystemExit("Orthanc is measured under bench/orthanc.sh, which starts it and sets ORTHANC_URL.")
    print(f"Orthanc on {url}")
    pid = int(os.environ["ORTHANC_PID"])
    yield Client(url, {}, lambda: cpu_seconds([pid]))


def print_table(results: dict[str, list[Row]]) -> None:
    """One column per target: the figure and, in brackets, the server's CPU time per operation."""
    names = list(results)
    labels = [row.label for row in results[names[0]]]
    width = max(map(len, labels))
    columns = [[f"{row.text} [CPU {row.cpu_ms:.1f} ms]" for row in results[name]] for name in names]
    widths = [max(len(name), *map(len, column)) for name, column in zip(names, columns)]
    header = f"{'':{width}} | " + " | ".join(f"{name:{w}}" for name, w in zip(names, widths))
    if len(names) == 2:
        header += " | ours vs Orthanc (figure; CPU)"
    print("\n" + header + "\n" + "-" * len(header))
    for n, label in enumerate(labels):
        line = f"{label:{width}} | " + " | ".join(f"{column[n]:{w}}" for column, w in zip(columns, widths))
        if len(names) == 2:
            a, b = results[names[0]][n], results[names[1]][n]
            ratio = (a.value / b.value) if a.higher_is_better else (b.value / a.value)
            line += f" | {ratio:.2f}× {'ahead' if ratio >= 1 else 'behind'}; CPU {b.cpu_ms / max(a.cpu_ms, 1e-9):.2f}×"
        print(line)
    print("Ratios above 1 favour ours. CPU is the server's (database included) per instance, request or frame.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("ours", "orthanc", "both"), default="both")
    parser.add_argument("--processes", type=int, default=2, help="daphne processes of our server")
    parser.add_argument("--filler", type=int, default=19000, help="small instances stored before measuring")
    parser.add_argument("--stow-instances", type=int, default=600, help="512×512 instances per STOW-RS row (200 until run 10: 4 requests a batch-50 row)")
    parser.add_argument("--repeats", type=int, default=50, help="requests per QIDO-RS row")
    parser.add_argument("--save", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    corpus = build_corpus(args.filler, args.stow_instances)
    targets = {"ours": lambda: ours(args.processes), "Orthanc": orthanc}
    chosen = {"ours": ["ours"], "orthanc": ["Orthanc"], "both": ["ours", "Orthanc"]}[args.target]
    results = {}
    for name in chosen:
        with targets[name]() as client:
            results[name] = run(client, corpus, args.repeats)
    print_table(results)
    if args.save:
        args.save.write_text(json.dumps({name: [row.__dict__ for row in rows] for name, rows in results.items()}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
