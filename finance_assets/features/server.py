"""The Feast feature server as the lakehouse serves it: Feast's own app behind a thin ASGI wrapper.

Feast 0.67's ``/get-online-features`` answers a client's mistake (an entity key no view is keyed by, a
feature that does not exist, a malformed body) with a 500 and the exception's text, an unknown feature
service with a 404 whose body is a JSON string holding JSON (encoded twice); it serves the latest online
value however old it is (a view's TTL only applies to offline point-in-time joins), and a ``UnixTimestamp``
feature as epoch seconds. :class:`LakehouseFeatureApi` wraps Feast's ASGI app (nothing in Feast is
patched) and:

- validates the request against the registry first: a malformed body is a 400, an entity key that none of
  the requested views is keyed by (or a missing one) a 400, an unknown feature service, feature view or
  feature a 404; every error is one plain JSON object ``{"error": <what was wrong>, "field": <where>}``;
- rewrites any other error Feast answers into the same shape (decoding a doubly encoded body);
- nulls a value older than its view's TTL (status ``OUTSIDE_MAX_AGE``; its event timestamp stays, so the
  client sees how old the last value is): what a view's TTL promises offline now holds online too;
- renders ``UnixTimestamp`` features as ISO-8601 (``2023-11-03T00:00:00Z``).

Why a wrapper of our own: Feast has no hook for request validation or response shaping, and its error handler
is a closure inside ``get_app``. Started by ``python -m finance_assets.features serve`` (gunicorn with
uvicorn workers, as ``feast serve``), with the same options as ``feast serve``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from feast import FeatureStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ONLINE_FEATURES_PATH = "/get-online-features"
OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


class RequestError(Exception):
    """A client's mistake: answered with ``status`` and ``{"error": message, "field": field}``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **({"field": self.field} if self.field else {})}


@dataclass(frozen=True)
class OutputColumn:
    """One column of the response: which view it comes from, its TTL and whether it is a timestamp."""

    name: str
    view: str | None  # None: an entity key column
    ttl_seconds: float | None  # None or 0: no TTL
    is_timestamp: bool


def _timestamp_dtype(dtype: Any) -> bool:
    from feast.types import UnixTimestamp

    return dtype == UnixTimestamp


def resolve_request(store: FeatureStore, payload: Any) -> list[OutputColumn]:
    """Check ``payload`` against the registry; the columns the response will hold, in Feast's order.

    Raises :class:`RequestError` naming what is wrong.
    """
    from feast.errors import FeastObjectNotFoundException

    if not isinstance(payload, dict):
        raise RequestError(400, "the request body must be a JSON object")
    entities = payload.get("entities")
    if not isinstance(entities, dict) or not entities:
        raise RequestError(400, "'entities' must be an object of join key -> list of values", "entities")
    lengths = set()
    for key, values in entities.items():
        if not isinstance(values, list):
            raise RequestError(400, f"entities.{key} must be a list of values", f"entities.{key}")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise RequestError(400, "every entities list must have the same length", "entities")
    service_name = payload.get("feature_service")
    features = payload.get("features") or []
    full_names = bool(payload.get("full_feature_names", False))
    if service_name is not None and not isinstance(service_name, str):
        raise RequestError(400, "'feature_service' must be a string", "feature_service")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise RequestError(400, "'features' must be a list of 'view:feature' strings", "features")
    if not service_name and not features:
        raise RequestError(400, "name a 'feature_service' or a list of 'features' ('view:feature')", "features")

    wanted: list[tuple[str, str, list[str]]] = []  # (name used in output, view name, features)
    if service_name:
        try:
            service = store.get_feature_service(service_name, allow_cache=True)
        except FeastObjectNotFoundException:
            raise RequestError(404, f"unknown feature service '{service_name}'", "feature_service") from None
        for projection in service.feature_view_projections:
            wanted.append((projection.name_to_use(), projection.name, [f.name for f in projection.features]))
    else:
        by_view: dict[str, list[str]] = {}
        for reference in features:
            view, sep, feature = reference.partition(":")
            if not sep or not view or not feature:
                raise RequestError(400, f"feature reference '{reference}' is not 'view:feature'", "features")
            by_view.setdefault(view, []).append(feature)
        wanted = [(view, view, names) for view, names in by_view.items()]

    join_keys: list[str] = []
    columns: list[OutputColumn] = []
    for output_prefix, view_name, names in wanted:
        try:
            view = store.get_feature_view(view_name, allow_registry_cache=True)
        except FeastObjectNotFoundException:
            raise RequestError(404, f"unknown feature view '{view_name}'", "features") from None
        fields = {f.name: f for f in view.features}
        for name in names:
            if name not in fields:
                known = ", ".join(sorted(fields))
                message = f"unknown feature '{name}' of feature view '{view_name}' (it has: {known})"
                raise RequestError(404, message, "features")
            ttl = view.ttl.total_seconds() if view.ttl else None
            output = f"{output_prefix}__{name}" if full_names else name
            columns.append(OutputColumn(output, view_name, ttl or None, _timestamp_dtype(fields[name].dtype)))
        for column in view.entity_columns:
            if column.name not in join_keys:
                join_keys.append(column.name)
    unknown = [key for key in entities if key not in join_keys]
    if unknown:
        raise RequestError(
            400,
            f"unknown entity key '{unknown[0]}': the requested features are keyed by {', '.join(join_keys)}",
            f"entities.{unknown[0]}",
        )
    missing = [key for key in join_keys if key not in entities]
    if missing:
        raise RequestError(400, f"missing entity key '{missing[0]}'", f"entities.{missing[0]}")
    return [OutputColumn(key, None, None, False) for key in entities] + columns


def _parse_timestamp(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def iso_timestamp(value: Any) -> Any:
    """Epoch seconds (Feast's ``unix_timestamp_val``) as ISO-8601 UTC; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return datetime.fromtimestamp(value, tz=UTC).isoformat().replace("+00:00", "Z")


def shape_response(body: dict[str, Any], columns: list[OutputColumn], now: float | None = None) -> dict[str, Any]:
    """TTL applied (values older than their view's TTL nulled, ``OUTSIDE_MAX_AGE``), timestamps as ISO-8601."""
    now = time.time() if now is None else now
    by_name = {c.name: c for c in columns}
    names = body.get("metadata", {}).get("feature_names", [])
    for name, result in zip(names, body.get("results", []), strict=False):
        column = by_name.get(name)
        if column is None or column.view is None:
            continue
        values, statuses = result.get("values", []), result.get("statuses", [])
        stamps = result.get("event_timestamps", [])
        for i, value in enumerate(values):
            stamp = _parse_timestamp(stamps[i]) if i < len(stamps) else None
            if value is not None and column.ttl_seconds and stamp is not None and now - stamp > column.ttl_seconds:
                values[i] = None
                if i < len(statuses):
                    statuses[i] = OUTSIDE_MAX_AGE
            elif column.is_timestamp:
                values[i] = iso_timestamp(value)
    return body


def plain_error(status: int, raw: bytes) -> dict[str, Any]:
    """Any error body Feast answers as one JSON object ``{"error": ...}`` (a JSON string of JSON is decoded)."""
    text: Any = raw.decode("utf-8", "replace")
    for _ in range(3):  # Feast encodes FeastError details as a JSON string inside the JSON response
        try:
            decoded = json.loads(text)
        except (TypeError, ValueError):
            break
        text = decoded
        if not isinstance(text, str):
            break
    if isinstance(text, dict):
        message = text.get("error") or text.get("detail") or text.get("message") or json.dumps(text)
        if isinstance(message, list):  # FastAPI's validation errors
            message = "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in message)
        return {"error": str(message)}
    return {"error": str(text) or f"HTTP {status}"}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode()
    kept = [(k, v) for k, v in (headers or []) if k.lower() not in (b"content-length", b"content-type")]
    kept += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": body})


class LakehouseFeatureApi:
    """ASGI wrapper of Feast's feature server app (see the module docstring for what it adds)."""

    def __init__(self, app: ASGIApp, store: FeatureStore) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        columns: list[OutputColumn] | None = None
        if scope.get("method") == "POST" and scope.get("path") == ONLINE_FEATURES_PATH:
            try:
                try:
                    payload = json.loads(body or b"null")
                except ValueError as exc:
                    raise RequestError(400, f"the request body is not JSON: {exc}") from None
                columns = await run_in_threadpool(resolve_request, self.store, payload)
            except RequestError as error:
                await _send_json(send, error.status, error.body())
                return
        status, headers, response = await self._forward(scope, body)
        if status >= 400 and not response.startswith(b'{"error"'):
            await _send_json(send, status, plain_error(status, response), headers)
        elif status == 200 and columns is not None:
            await _send_json(send, status, shape_response(json.loads(response), columns), headers)
        else:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": response})

    async def _forward(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Call Feast's app with the body already read; its whole response (responses here are small)."""
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        start: Message = {}
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return int(start.get("status", 500)), list(start.get("headers", [])), b"".join(chunks)


def serve(
    store: FeatureStore,
    *,
    host: str,
    port: int,
    no_access_log: bool,
    workers: int,
    worker_connections: int,
    max_requests: int,
    max_requests_jitter: int,
    keep_alive_timeout: int,
    registry_ttl_sec: int,
    tls_key_path: str = "",
    tls_cert_path: str = "",
) -> None:
    """What ``feast serve`` does (auth set-up, gunicorn with uvicorn workers), with the app wrapped."""
    from feast.feature_server import FeastServeApplication
    from feast.permissions.server.utils import ServerType, init_auth_manager, init_security_manager
    from feast.permissions.server.utils import str_to_auth_manager_type as auth_type_of

    if bool(tls_key_path) != bool(tls_cert_path):
        raise ValueError("Both --key and --cert are required to serve over TLS.")
    auth_type = auth_type_of(store.config.auth_config.type)
    init_security_manager(auth_type=auth_type, fs=store)
    init_auth_manager(auth_type=auth_type, server_type=ServerType.REST, auth_config=store.config.auth_config)

    class LakehouseServeApplication(FeastServeApplication):  # type: ignore[misc, valid-type]
        def load(self) -> LakehouseFeatureApi:
            return LakehouseFeatureApi(self._app, self._store)

    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "accesslog": None if no_access_log else "-",
        "workers": workers,
        "worker_connections": worker_connections,
        "max_requests": max_requests,
        "max_requests_jitter": max_requests_jitter,
        "keepalive": keep_alive_timeout,
        "registry_ttl_sec": registry_ttl_sec,
    }
    if tls_key_path:
        options |= {"keyfile": tls_key_path, "certfile": tls_cert_path}
    options["post_worker_init"] = _freeze_startup_heap
    LakehouseServeApplication(store=store, **options).run()


def _freeze_startup_heap(worker: Any) -> None:
    """Move what a worker allocated to start (Feast, its registry, pyarrow, protobuf: millions of objects)
    out of the garbage collector's reach, as gunicorn's docs suggest for large apps: without it every full
    collection walked them all, a ~0.35 s stall of the request in flight every few seconds (p99 of a
    100-entity call 6x its p50)."""
    import gc

    gc.collect()
    gc.freeze()
