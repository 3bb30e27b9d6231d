"""A real S3-compatible server for the suite: moto's, in a thread, over HTTP on 127.0.0.1.

Shared by the R2 tests (tests/r2/conftest.py re-exports these fixtures), the reliability
tests and the app's tracks tests, which import the fixtures they use.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

_names = itertools.count()


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def admin(url: str) -> Any:
    """A plain boto3 client on the server, to look behind the uploader's back."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def s3(s3_url: str) -> Any:
    return admin(s3_url)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh bucket of this test's own."""
    name = f"tracks-{next(_names)}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name
