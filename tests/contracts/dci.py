"""Contract helpers for the DCI tests: JSON-schema validation, envelopes, a callback receiver.

The schemas (``dci.schema.json`` beside this file) are written from the DCI digest
(/work/shared/dci/README.md), independently of the server's own models.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA = json.loads((Path(__file__).with_name("dci.schema.json")).read_text())


def validate(instance: Any, definition: str) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``instance`` follows ``$defs/definition``."""
    schema = {"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]}
    Draft202012Validator(schema, format_checker=FormatChecker()).validate(instance)


def ts() -> str:
    """Now, as a DCI timestamp."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def envelope(
    action: str,
    message: dict[str, Any] | None,
    *,
    sender_id: str,
    sender_uri: str | None = None,
    signature: str | None = None,
    **header: Any,
) -> dict[str, Any]:
    """A request envelope with a fresh message id."""
    head: dict[str, Any] = {
        "version": "1.0.0",
        "message_id": f"m-{uuid.uuid4().hex}",
        "message_ts": ts(),
        "action": action,
        "sender_id": sender_id,
        "receiver_id": "solidarity",
        "total_count": 1,
        "is_msg_encrypted": False,
        **header,
    }
    if sender_uri:
        head["sender_uri"] = sender_uri
    body: dict[str, Any] = {"header": head}
    if message is not None:
        body["message"] = message
    if signature is not None:
        body["signature"] = signature
    return body


def search_message(
    query_type: str, query: Any, *, transaction_id: str | None = None, **criteria: Any
) -> dict[str, Any]:
    """A one-item SearchRequest."""
    item: dict[str, Any] = {
        "reference_id": f"r-{uuid.uuid4().hex[:8]}",
        "timestamp": ts(),
        "search_criteria": {
            "reg_type": "ns:org:RegistryType:Social",
            "query_type": query_type,
            "query": query,
            **criteria,
        },
        "locale": "eng",
    }
    return {
        "transaction_id": transaction_id or f"t-{uuid.uuid4().hex[:8]}",
        "search_request": [item],
    }


class CallbackReceiver:
    """A real HTTP server on 127.0.0.1 collecting POSTed callbacks.

    ``fail_first`` answers that many requests with HTTP 503 before acknowledging.
    Repeated message ids are acknowledged but recorded once (receiver-side
    idempotency).
    """

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.attempts = 0
        self.fail_first = fail_first
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    message_id = (body.get("header") or {}).get("message_id", "")
                    if not failing and message_id not in receiver._seen:
                        receiver._seen.add(message_id)
                        receiver.received.append((self.path, body))
                status = 503 if failing else 200
                answer = {
                    "message": {
                        "ack_status": "ACK",
                        "timestamp": ts(),
                        "correlation_id": f"c-{uuid.uuid4().hex[:8]}",
                    }
                }
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        """The callbacks received once there are ``count`` of them (or at the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.received) < count:
            time.sleep(0.02)
        return list(self.received)
