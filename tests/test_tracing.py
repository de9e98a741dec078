"""tracing.py: a span per HTTP request, a child span per JSON-RPC call (serve --tracing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from customergroup_rpc.app import Config, create_app
from customergroup_rpc.tracing import Tracing, TracingError

from .conftest import ENDPOINT, MANAGE, req

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def client(aiohttp_client: Any, spans: InMemorySpanExporter) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return await aiohttp_client(create_app(Config(admin_token=MANAGE, tracing=Tracing(provider))))


def named(spans: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans.get_finished_spans()}


async def test_a_request_is_a_span_and_each_call_a_child_named_after_its_method(
    client: Any, spans: InMemorySpanExporter
) -> None:
    batch = [req("count"), req("get", [7]), {"jsonrpc": "2.0", "method": "Nope.x", "id": 3}]
    headers = {"traceparent": f"00-{TRACE}-{PARENT}-01"}
    response = await client.post(f"{ENDPOINT}?auth={MANAGE}", json=batch, headers=headers)
    assert response.status == 200
    found = named(spans)
    assert set(found) == {
        f"POST {ENDPOINT}",
        "Customergroup.count",
        "Customergroup.get",
        "unknown",
    }
    request = found[f"POST {ENDPOINT}"]
    assert request.kind == SpanKind.SERVER
    assert request.context is not None
    assert f"{request.context.trace_id:032x}" == TRACE  # the caller's trace goes on
    assert request.parent is not None
    assert f"{request.parent.span_id:016x}" == PARENT
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    for name in ("Customergroup.count", "Customergroup.get", "unknown"):
        call = found[name]
        assert call.parent is not None
        assert call.parent.span_id == request.context.span_id
        assert call.start_time is not None
        assert call.end_time is not None
        assert call.start_time < call.end_time
    failed = found["Customergroup.get"]
    assert failed.attributes is not None
    assert failed.attributes["rpc.jsonrpc.error_code"] == 9003
    assert failed.status.status_code == StatusCode.ERROR
    assert found["Customergroup.count"].status.status_code == StatusCode.UNSET


async def test_every_route_gets_a_span_and_websocket_calls_are_its_children(
    client: Any, spans: InMemorySpanExporter
) -> None:
    assert (await client.get("/no/such/place")).status == 404
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps(req("count")))
        await ws.receive_json()
    await client.get("/health")
    found = named(spans)
    assert found["GET"].attributes is not None
    assert found["GET"].attributes["http.response.status_code"] == 404  # no route: no path
    socket = found[f"GET {ENDPOINT}"]
    assert socket.context is not None
    assert found["Customergroup.count"].parent is not None
    assert found["Customergroup.count"].parent.span_id == socket.context.span_id
    assert "GET /health" in found


def test_the_environment_picks_the_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    for exporter in ("none", "console", "otlp"):
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)
        Tracing.from_environment().close()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(TracingError, match="otlp, console or none"):
        Tracing.from_environment()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(TracingError, match="http/protobuf"):
        Tracing.from_environment()
