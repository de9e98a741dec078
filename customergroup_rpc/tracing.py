"""Traces with OpenTelemetry, for ``serve --tracing`` (the only module importing it; it is
an optional dependency: ``pip install 'customergroup-rpc[tracing]'``).

One span per HTTP request (kind SERVER, named ``POST /backend/jsonrpc/v1/``, continuing a
trace whose ``traceparent`` header the request carries), and under it one span per JSON-RPC
call named after its method (``unknown`` for a name that is none of ours). The call spans are
made when the request is answered, from the times ``rpc.Context`` recorded: dispatch pays
nothing for them, and a server without ``--tracing`` runs none of this module.

Where the spans go is OpenTelemetry's standard configuration, read from the environment:
``OTEL_TRACES_EXPORTER`` (``otlp``, the default, over HTTP/protobuf; ``console``; ``none``),
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME`` (``customergroup-rpc``),
``OTEL_TRACES_SAMPLER`` and the rest. Under ``opentelemetry-instrument``, whose SDK is set up
already, that one is used.

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
>>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
>>> provider, spans = TracerProvider(), InMemorySpanExporter()
>>> provider.add_span_processor(SimpleSpanProcessor(spans))
>>> tracing = Tracing(provider)
>>> with tracing.request("POST", "/backend/jsonrpc/v1/", {}, "127.0.0.1") as answered:
...     tracing.calls(["Customergroup.count"], [(None, 1.0, 1.001)])
...     answered(200)
>>> [span.name for span in spans.get_finished_spans()]
['Customergroup.count', 'POST /backend/jsonrpc/v1/']
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__
from .rpc import KNOWN_METHODS

Timing = tuple[int | None, float, float]  # as metrics.Timing: outcome, started, ended
UNKNOWN = "unknown"


class TracingError(Exception):
    """The tracing configuration cannot be used (an exporter this build does not have)."""


class Tracing:
    """Spans of this service, made by ``provider`` (default: the process's global one)."""

    def __init__(self, provider: trace.TracerProvider | None = None) -> None:
        self._provider = provider or trace.get_tracer_provider()
        self._tracer = self._provider.get_tracer("customergroup_rpc", __version__)
        self._owned = False

    @classmethod
    def from_environment(cls) -> Tracing:
        """Tracing as the ``OTEL_*`` variables configure it (see the module)."""
        if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return cls()  # an SDK set up by opentelemetry-instrument
        found = Resource.create()
        if str(found.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            found = found.merge(Resource({SERVICE_NAME: "customergroup-rpc"}))
        provider = TracerProvider(resource=found)
        exporter = _exporter(os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower())
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        tracing = cls(provider)
        tracing._owned = True
        return tracing

    @contextlib.contextmanager
    def request(
        self, method: str, route: str | None, headers: Mapping[str, str], client: str | None
    ) -> Iterator[Callable[[int], None]]:
        """The span of one HTTP request (current inside the block); call what it yields with
        the response's status."""
        attributes = {"http.request.method": method, "client.address": client or ""}
        if route is not None:
            attributes["http.route"] = route
        with self._tracer.start_as_current_span(
            f"{method} {route}" if route else method,
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:

            def answered(status: int) -> None:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))

            yield answered

    def calls(self, methods: Sequence[str], timings: Sequence[Timing]) -> None:
        """A span for each call of the request answered now, children of its span."""
        offset = time.time_ns() - int(time.perf_counter() * 1e9)  # perf_counter to epoch
        for name, (outcome, started, ended) in zip(methods, timings, strict=False):
            known = name in KNOWN_METHODS
            span = self._tracer.start_span(
                name if known else UNKNOWN,
                start_time=offset + int(started * 1e9),
                attributes={
                    "rpc.system": "jsonrpc",
                    "rpc.jsonrpc.version": "2.0",
                    "rpc.method": name if known else UNKNOWN,
                },
            )
            if outcome is not None:
                span.set_attribute("rpc.jsonrpc.error_code", outcome)
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=offset + int(ended * 1e9))

    def close(self) -> None:
        """Send the spans still buffered (a provider made here only)."""
        if self._owned and isinstance(self._provider, TracerProvider):
            self._provider.shutdown()


def _exporter(name: str) -> SpanExporter | None:
    if name == "none":
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise TracingError(f"OTEL_TRACES_EXPORTER={name}: this server sends otlp, console or none")
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise TracingError(f"OTLP protocol {protocol}: this server sends http/protobuf")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError:
        raise TracingError(
            "the OTLP exporter is not installed: pip install 'customergroup-rpc[tracing]'"
        ) from None
    return OTLPSpanExporter()
