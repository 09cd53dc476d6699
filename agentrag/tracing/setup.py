"""Deciding whether tracing is on, and building the exporter only when it is.

The decision reads settings and the standard ``OTEL_*`` variables without importing
the OpenTelemetry SDK, so an application that never configures tracing pays for one
dictionary lookup per run. The SDK, the OTLP exporter and the OpenInference names are
imported inside :func:`TraceSink.create`, i.e. only when tracing is on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentrag.errors import ConfigError, MissingDependencyError
from agentrag.settings import TracingConfig

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

_TRUE = ("1", "true", "yes", "on")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def tracing_enabled(config: TracingConfig) -> bool:
    """Whether runs should emit spans: settings first, then the standard OTel variables."""
    if (_env("OTEL_SDK_DISABLED") or "").lower() in _TRUE:
        return False
    if config.enabled is not None:
        return config.enabled
    return bool(config.endpoint or _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_ENDPOINT"))


def traces_url(config: TracingConfig) -> str:
    """The OTLP/HTTP traces URL: ``.../v1/traces`` appended to a base endpoint, as the OTel spec says."""
    if config.endpoint:
        return config.endpoint.rstrip("/") + "/v1/traces"
    exact = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if exact:
        return exact
    base = _env("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
    return base.rstrip("/") + "/v1/traces"


def _protocol(config: TracingConfig) -> str:
    proto = config.protocol or _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL")
    proto = proto or "http/protobuf"
    if proto != "http/protobuf":
        raise ConfigError(
            f"OTLP protocol {proto!r} is not supported; valid: http/protobuf "
            "(set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf; Phoenix and the OTel Collector accept it)"
        )
    return proto


@dataclass
class TraceSink:
    """An own tracer provider with a batching OTLP/HTTP exporter (no global OTel state is touched)."""

    provider: TracerProvider
    tracer: Tracer
    capture_content: bool

    @classmethod
    def create(cls, config: TracingConfig, exporter: Any | None = None) -> TraceSink:
        """Build the provider; ``exporter`` replaces the OTLP exporter (tests, the benchmark)."""
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise MissingDependencyError(
                "opentelemetry-sdk / opentelemetry-exporter-otlp-proto-http", extra="trace", why="tracing is on"
            ) from exc
        _protocol(config)
        service = config.service_name or _env("OTEL_SERVICE_NAME") or "agentrag"
        # Phoenix files spans under the project named by this resource attribute (else "default")
        resource = Resource.create({"service.name": service, "openinference.project.name": service})
        provider = TracerProvider(resource=resource)
        url = traces_url(config)
        provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=url)))
        log.info("tracing on: OTLP/HTTP to %s as service %r", url, service)
        return cls(provider, provider.get_tracer("agentrag"), config.capture_content)

    def flush(self, timeout_ms: int = 10_000) -> bool:
        """Export what is buffered now (tests, short-lived CLI processes)."""
        return bool(self.provider.force_flush(timeout_ms))

    def close(self) -> None:
        """Flush and stop the exporter thread."""
        self.provider.shutdown()
