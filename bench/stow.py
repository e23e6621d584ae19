"""STOW-RS ingest on our server alone, steadier than bench/dicomweb.py's short STOW-RS rows.

    bash scripts/with-services.sh .venv/bin/python bench/stow.py [--instances 300] [--batch 50] [--processes 1]

The full comparison stores 600 instances a row (twelve requests at batch 50) on two processes
and four clients at most; this measures one process and one client alone, after a warm-up of 20
requests, and prints instances/s with the server's CPU an instance (database included). The
instances are bench/dicomweb.py's 512×512 CT slices, 50 to a study.
"""
from __future__ import annotations

import argparse
import time

from dicomweb import multipart, ours, stow_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1, help="daphne processes of our server")
    args = parser.parse_args()
    files = stow_files("stow", args.instances)
    bodies = [multipart(files[i:i + args.batch]) for i in range(0, len(files), args.batch)]
    warm_up = [multipart([f]) for f in stow_files("warm-up", 20)]
    with ours(args.processes) as client:
        for body in warm_up:
            client.stow(*body)
        cpu_before, began = client.server_cpu(), time.perf_counter()
        for body in bodies:
            client.stow(*body)
        wall, cpu = time.perf_counter() - began, client.server_cpu() - cpu_before
    print(f"STOW-RS, {len(files)} instances at batch {args.batch}, 1 client, {args.processes} daphne process(es): "
          f"{len(files) / wall:.0f} instances/s, {wall * 1000 / len(bodies):.0f} ms a request, "
          f"server CPU {cpu * 1000 / len(files):.1f} ms an instance (database included)")


if __name__ == "__main__":
    main()
