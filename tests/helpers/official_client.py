"""The official client (`ansys-hps-data-transfer-client`) pointed at a worker already running."""

from __future__ import annotations

import urllib.parse

from ansys.hps.data_transfer.client import Client
from ansys.hps.data_transfer.client.api import DataTransferApi
from ansys.hps.data_transfer.client.binary import BinaryConfig


def binary_config(url: str, token: str) -> BinaryConfig:
    """The connection settings of the official client for a worker URL and token."""
    parts = urllib.parse.urlsplit(url)
    assert parts.path == "/api/v1"
    return BinaryConfig(host=parts.hostname, port=parts.port, token=token)


def make_api(url: str, token: str) -> DataTransferApi:
    """The official sync API on an already running worker (no `start()`)."""
    client = Client(bin_config=binary_config(url, token))
    assert client.base_api_url == url
    return DataTransferApi(client)


def close(api: DataTransferApi) -> None:
    """Close the HTTP session only: `Client.stop()` would POST /shutdown to the worker."""
    if api.client._session is not None:
        api.client._session.close()
