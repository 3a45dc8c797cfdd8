"""Optimistic locking in tests: read a record's ETag to send back as ``If-Match``."""

from __future__ import annotations

from fastapi.testclient import TestClient


def if_match(client: TestClient, url: str) -> dict[str, str]:
    """``{"If-Match": <ETag of url>}`` as ``client`` reads it now."""
    response = client.get(url)
    assert response.status_code == 200, response.text
    return {"If-Match": response.headers["etag"]}
