#!/usr/bin/python3
"""A schema registry for the tests: the REST calls of Confluent's Schema Registry that swiftfunc
and confluent-kafka's serializers use, kept in memory. A test double (no Confluent Schema Registry
runs on these machines), not a product.

Usage: schema_registry.py [--auth USER:PASSWORD]   prints "PORT" on its first line, then serves.
  GET  /schemas/ids/{id}                  {"schema", "schemaType"?, "references"?} | 404 (error_code 40403)
  POST /subjects/{subject}/versions       {"schema", "schemaType"?, "references"?} -> {"id"} (same schema: same id)
  POST /subjects/{subject}                lookup -> {"subject", "id", "version", "schema"} | 404
  GET  /subjects/{subject}/versions/latest|{n}  {"subject", "id", "version", "schema", "schemaType"?}
  GET  /subjects                          the subject names
Schemas are kept as they were registered: a Protobuf schema as .proto text, or as the base64
serialized FileDescriptorProto Confluent's Python serializer registers (a real Confluent registry
would turn that into text). `?format=serialized` (what Confluent's Protobuf serializers ask for)
answers a text schema as the serialized form, made by protoc from grpcio-tools in the schema venv.
References ({"name", "subject", "version"}) are kept and answered as given.
Test controls (no authentication):
  POST /_test/down, POST /_test/up        while down, every other request is answered 503
  POST /_test/down?prefix=/subjects/      only requests whose path starts so are answered 503
  GET  /_test/requests                    {"METHOD /path": count} of the requests served so far
"""
import base64
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
schemas = []          # index + 1 is the id: {"schema", "schemaType"}
subjects = {}         # subject -> [id, ...] in version order
requests = {}
state = {"down": False, "prefix": ""}
auth = None


def stored(body):
    return {"schema": body["schema"], "schemaType": body.get("schemaType", "AVRO"),
            "references": [{"name": r["name"], "subject": r["subject"], "version": r["version"]} for r in body.get("references") or []]}


def schema_entry(schema_id, serialized=False):
    kept = schemas[schema_id - 1]
    entry = {"schema": kept["schema"]}
    if kept["schemaType"] != "AVRO":
        entry["schemaType"] = kept["schemaType"]
    if kept["references"]:
        entry["references"] = kept["references"]
    if serialized and kept["schemaType"] == "PROTOBUF" and re.search(r"\s", kept["schema"]):
        entry["schema"] = serialized_proto(schema_id)
    return entry


def referenced_files(schema_id, files):
    """The .proto texts schema_id imports, by import name, theirs too."""
    for reference in schemas[schema_id - 1]["references"]:
        versions = subjects[reference["subject"]]
        version = len(versions) if reference["version"] == -1 else reference["version"]
        files[reference["name"]] = schemas[versions[version - 1] - 1]["schema"]
        referenced_files(versions[version - 1], files)
    return files


def serialized_proto(schema_id):
    """A text schema as a base64 serialized FileDescriptorProto (schema_client.py proto-serialized)."""
    here = os.path.dirname(os.path.abspath(__file__))
    python = os.path.join(here, "..", "..", ".build", "schema-venv", "bin", "python")
    files = referenced_files(schema_id, {})
    files[f"schema-{schema_id}.proto"] = schemas[schema_id - 1]["schema"]
    request = json.dumps({"files": files, "main": f"schema-{schema_id}.proto"})
    return subprocess.run([python, os.path.join(here, "schema_client.py"), "proto-serialized"], input=request,
                          capture_output=True, text=True, check=True).stdout.strip().strip('"')


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self, what, code=40403):
        self.answer(404, {"error_code": code, "message": f"{what} not found"})

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def handle_request(self, method):
        path = self.path.split("?", 1)[0]
        serialized = "format=serialized" in self.path
        if path.startswith("/_test/"):
            if path == "/_test/down":
                state["down"] = True
                state["prefix"] = self.path.split("prefix=", 1)[1] if "prefix=" in self.path else ""
            elif path == "/_test/up":
                state["down"] = False
            elif path == "/_test/requests":
                with lock:
                    return self.answer(200, dict(requests))
            return self.answer(200, {})
        body = self.body() if method == "POST" else None
        with lock:
            requests[f"{method} {path}"] = requests.get(f"{method} {path}", 0) + 1
        if state["down"] and path.startswith(state["prefix"]):
            return self.answer(503, {"error_code": 50302, "message": "the test registry is down"})
        if auth is not None:
            expected = "Basic " + base64.b64encode(auth.encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self.answer(401, {"error_code": 401, "message": "Unauthorized"})
        with lock:
            match = re.fullmatch(r"/schemas/ids/(\d+)", path)
            if method == "GET" and match:
                schema_id = int(match.group(1))
                if not 1 <= schema_id <= len(schemas):
                    return self.not_found("Schema")
                return self.answer(200, schema_entry(schema_id, serialized))
            match = re.fullmatch(r"/subjects/([^/]+)/versions", path)
            if method == "POST" and match:
                entry = stored(body)
                if entry in schemas:
                    schema_id = schemas.index(entry) + 1
                else:
                    schemas.append(entry)
                    schema_id = len(schemas)
                versions = subjects.setdefault(match.group(1), [])
                if schema_id not in versions:
                    versions.append(schema_id)
                return self.answer(200, {"id": schema_id})
            match = re.fullmatch(r"/subjects/([^/]+)", path)
            if method == "POST" and match:
                entry = stored(body)
                versions = subjects.get(match.group(1), [])
                if entry not in schemas or schemas.index(entry) + 1 not in versions:
                    return self.not_found("Schema", 40403)
                schema_id = schemas.index(entry) + 1
                return self.answer(200, {"subject": match.group(1), "id": schema_id,
                                         "version": versions.index(schema_id) + 1, **schema_entry(schema_id, serialized)})
            match = re.fullmatch(r"/subjects/([^/]+)/versions/(latest|\d+)", path)
            if method == "GET" and match:
                versions = subjects.get(match.group(1))
                if not versions:
                    return self.not_found("Subject", 40401)
                version = len(versions) if match.group(2) == "latest" else int(match.group(2))
                if not 1 <= version <= len(versions):
                    return self.not_found("Version", 40402)
                schema_id = versions[version - 1]
                return self.answer(200, {"subject": match.group(1), "id": schema_id, "version": version, **schema_entry(schema_id, serialized)})
            if method == "GET" and path == "/subjects":
                return self.answer(200, sorted(subjects))
        self.answer(404, {"error_code": 404, "message": f"the test registry does not serve {method} {path}"})

    def do_GET(self):
        self.handle_request("GET")

    def do_POST(self):
        self.handle_request("POST")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--auth":
        auth = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
