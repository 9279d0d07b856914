"""An OTLP/HTTP trace receiver for the tests (and, with --discard, the benchmark's sink).

Listens on 127.0.0.1 at a port the system picks and prints it as its first line. POST /v1/traces
takes an ExportTraceServiceRequest in protobuf (what an OpenTelemetry SDK sends with
OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf), decodes it with the official definitions (PyPI
opentelemetry-proto, in .build/schema-venv: `make schema-venv`) and keeps every span; GET /spans
answers them as a JSON list: ids in lowercase hex, attribute values as plain JSON values, the
resource's attributes with each span.

--discard: accept and drop the requests without decoding them (the export's cost on the sender
is real, the receiver's is nearly nothing); runs on any Python 3 (no opentelemetry-proto).
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DISCARD = "--discard" in sys.argv
if not DISCARD:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

spans = []
requests = {"count": 0, "bytes": 0}
lock = threading.Lock()


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind) if kind else None


def attributes(key_values):
    return {kv.key: value(kv.value) for kv in key_values}


def decode(body):
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    found = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": span.kind,  # 5: SPAN_KIND_CONSUMER, 4: PRODUCER
                    "attributes": attributes(span.attributes),
                    "links": [{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()} for link in span.links],
                    "events": [{"name": event.name, "attributes": attributes(event.attributes)} for event in span.events],
                    "status": {"code": span.status.code, "message": span.status.message},  # 2: STATUS_CODE_ERROR
                    "resource": resource,
                })
    return found


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces":
            return self.answer(404, b"", "text/plain")
        with lock:
            requests["count"] += 1
            requests["bytes"] += len(body)
        if DISCARD:
            return self.answer(200, b"", "application/x-protobuf")
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return self.answer(415, b"expected application/x-protobuf", "text/plain")
        decoded = decode(body)
        with lock:
            spans.extend(decoded)
        self.answer(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def do_GET(self):
        with lock:
            payload = spans if self.path == "/spans" else requests
            body = json.dumps(payload).encode()
        self.answer(200, body, "application/json")

    def answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
