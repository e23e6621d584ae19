"""A viewer's small requests on our server alone, steadier than bench/dicomweb.py's rows.

    bash scripts/with-services.sh .venv/bin/python bench/viewer_requests.py rendered [--requests 1000] [--processes 1]

Stores bench/dicomweb.py's 125-slice viewer series on a fresh server, sends a few requests of
another kind first (so the figures are not a process's very first request), then one request
after another on one connection: `series` (QIDO-RS series of the study), `frame` (each slice's
frame in turn) or `rendered` (each slice's JPEG in turn: the first 125 are first renders, the
rest come from the frame cache). Prints p50, p95, the first three latencies, and the server's
CPU a request (database included).
"""
from __future__ import annotations

import argparse
from datetime import date

from _setup import percentile
from dicomweb import FRAME_ACCEPT, VIEWER_SLICES, ct_instance, multipart, ours, series_slices

WARM_UP = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("series", "frame", "rendered"))
    parser.add_argument("--requests", type=int, default=VIEWER_SLICES)
    parser.add_argument("--processes", type=int, default=1, help="daphne processes of our server")
    args = parser.parse_args()
    slices = series_slices("viewer", "1", VIEWER_SLICES)
    files = [ct_instance(s, patient=1, study_date=date(2024, 3, 15), size=512, series_number=3) for s in slices]
    study, series = slices[0].study, slices[0].series
    paths = {
        "series": lambda n: (f"/studies/{study}/series", "application/dicom+json"),
        "frame": lambda n: (f"/studies/{study}/series/{series}/instances/{slices[n % VIEWER_SLICES].sop}/frames/1", FRAME_ACCEPT),
        "rendered": lambda n: (f"/studies/{study}/series/{series}/instances/{slices[n % VIEWER_SLICES].sop}/rendered", "image/jpeg"),
    }
    with ours(args.processes) as client:
        client.stow(*multipart(files))
        warm_up = "frame" if args.kind == "rendered" else "rendered"
        for n in range(WARM_UP):
            client.get(*paths[warm_up](n))
        before = client.server_cpu()
        latencies = [client.get(*paths[args.kind](n))[1] * 1000 for n in range(args.requests)]
        cpu = client.server_cpu() - before
    print(f"{args.kind}, {args.requests} requests, {args.processes} daphne process(es): p50 {percentile(latencies, 50):.1f} ms, "
          f"p95 {percentile(latencies, 95):.1f} ms, first three {', '.join(f'{t:.1f}' for t in latencies[:3])} ms; "
          f"server CPU {cpu * 1000 / args.requests:.1f} ms a request (database included)")


if __name__ == "__main__":
    main()
