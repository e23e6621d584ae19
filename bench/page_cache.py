"""What writing a DICOM-sized file into the page cache costs on this machine, in fresh memory and
in memory just freed.

    .venv/bin/python bench/page_cache.py [--gigabytes 2]

Writes 0.5 MB files into a scratch folder and prints the CPU time of each write: first into
memory the machine has not used lately, then again right after deleting those files, when the
kernel hands the same pages back. On a virtual machine whose host takes back the memory a guest
frees (virtio-balloon's free page reporting, as on the development machine), the first is many
times the second: the host backs each new page as it is first touched. Every STOW-RS row, ours
and Orthanc's, pays this for each byte it stores, so it sets how far those rows move between
runs and between a first and a second run in one sitting.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

FILE_BYTES = 512 * 1024


def write_files(folder: str, count: int, data: bytes) -> float:
    """CPU seconds of writing `count` files of `data` into `folder` (kept until deleted)."""
    cpu = 0.0
    for n in range(count):
        with open(os.path.join(folder, f"{n}.dcm"), "wb") as handle:
            began = time.thread_time()
            handle.write(data)
            cpu += time.thread_time() - began
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0, help="written each time (more than the machine has freed lately)")
    args = parser.parse_args()
    count, data = max(1, int(args.gigabytes * 1024 ** 3 / FILE_BYTES)), os.urandom(FILE_BYTES)
    folder = tempfile.mkdtemp(prefix="page-cache-bench-")
    try:
        fresh = write_files(folder, count, data)
        shutil.rmtree(folder)
        os.mkdir(folder)
        reused = write_files(folder, count, data)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"writing a 0.5 MB file into the page cache, {count} files: {fresh * 1000 / count:.2f} ms of CPU into fresh memory, "
          f"{reused * 1000 / count:.2f} ms into memory just freed ({fresh / reused:.1f}×)")


if __name__ == "__main__":
    main()
