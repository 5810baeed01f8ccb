"""A real S3-compatible server on loopback (moto's server mode) for the sources tests, and small corpus files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.paths import CORPUS, require

# small real files of different formats (text, markdown, e-mail, HTML)
SMALL_FILES = ("fake-text.txt", "README.md", "fake-email.txt", "fake-text-utf-16.txt", "codeblock.md")


@dataclass(frozen=True)
class S3Server:
    url: str
    fs: Any  # an s3fs filesystem on it, for the tests to put and delete objects


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 (a free port), with dummy credentials in the environment (restored after)."""
    import os

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    import fsspec

    fs = fsspec.filesystem("s3", endpoint_url=url, skip_instance_cache=True, use_listings_cache=False)
    try:
        yield S3Server(url, fs)
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def small_file(name: str) -> Path:
    return require(CORPUS / name)


def put_files(fs: Any, bucket: str, prefix: str, names: tuple[str, ...] = SMALL_FILES) -> None:
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    for name in names:
        fs.pipe(f"{bucket}/{prefix}/{name}", small_file(name).read_bytes())
