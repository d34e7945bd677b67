"""A fake Consul HTTP API on 127.0.0.1, shared by the tests of mha-consul-failover and
consul-service-has-ip (no Consul binary can be installed here). Built from the shapes of Consul's
HTTP API documentation (v1):

- PUT /v1/catalog/register            {Node, Address, Datacenter, TaggedAddresses, NodeMeta,
                                       SkipNodeUpdate, Service{ID, Service, Tags, Address, Port,
                                       Meta}, Check, Checks}  -> true
- PUT /v1/catalog/deregister          {Node, ServiceID | CheckID | neither (the whole node)} -> true
- GET /v1/catalog/service/:service    [{ID, Node, Address, Datacenter, TaggedAddresses, NodeMeta,
                                       ServiceID, ServiceName, ServiceTags, ServiceAddress,
                                       ServicePort, ServiceMeta, CreateIndex, ModifyIndex}] (?tag)
- GET /v1/health/service/:service     [{Node{ID, Node, Address, Datacenter, TaggedAddresses, Meta},
                                       Service{ID, Service, Tags, Address, Port, Meta},
                                       Checks[{Node, CheckID, Name, Status, ServiceID, ServiceName}]}]
                                       (?passing: only entries whose checks all pass; ?tag)
- PUT /v1/agent/service/register      {ID, Name, Tags, Address, Port, Meta} on the agent's node
- PUT /v1/agent/service/deregister/:id  404 "Unknown service ID" when it is not there
- GET /v1/status/leader               "127.0.0.1:8300"

Blocking queries: the GETs answer with X-Consul-Index (the index of the last change, never 0),
X-Consul-KnownLeader and X-Consul-LastContact; `?index=N&wait=D` holds the answer until the index
moves past N or D (Go duration, default 5m, at most 10m) has passed.
ACL: with `token` set, a request must carry it in X-Consul-Token (or `Authorization: Bearer`, or
?token=); none -> 403 "Permission denied", another -> 403 "ACL not found".
Failure modes, for the next `count` requests whose path starts with `path`: fail("500"),
fail("badjson") (200, X-Consul-Index, a truncated body), fail("slow", delay=S), fail("reset")
(close the connection without an answer). Refused: stop() or a port nothing listens on.

Every request is recorded (method, path, query, headers, parsed JSON body) in `requests`.
"""
from __future__ import annotations

import http.server
import json
import re
import socketserver
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from support.peers import free_port  # noqa: F401 (a loopback port nothing listens on, for users of this module)

_DUR = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _wait_seconds(text: str | None) -> float:
    if not text:
        return 300.0
    total = sum(float(n) * _UNIT[u] for n, u in _DUR.findall(text))
    return min(total, 600.0)


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: object = None
    time: float = field(default_factory=time.monotonic)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeConsul:
    def __init__(self, token: str | None = None, datacenter: str = "dc1", agent_node: str = "agent-1",
                 agent_address: str = "127.0.0.1"):
        self.token = token
        self.dc = datacenter
        self.agent_node = agent_node
        self.nodes: dict[str, dict] = {}
        self.services: dict[tuple[str, str], dict] = {}
        self.checks: dict[tuple[str, str], dict] = {}
        self.index = 1
        self.requests: list[Request] = []
        self.failures: list[dict] = []
        self.cond = threading.Condition()
        self._node(agent_node, agent_address)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_PUT(self):
                fake._handle(self, "PUT")

            def do_POST(self):
                fake._handle(self, "POST")

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- for the tests ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.cond:
            self.cond.notify_all()

    def fail(self, mode: str, count: int = 1, path: str = "/", delay: float = 0.0) -> None:
        """The next `count` requests under `path` fail: "500", "badjson", "slow" (delay seconds,
        then the normal answer), "reset" (the connection is closed without an answer)."""
        with self.cond:
            self.failures.append({"mode": mode, "count": count, "path": path, "delay": delay})

    def register(self, node: str, address: str, service: str, service_id: str | None = None,
                 port: int = 0, service_address: str = "", tags=(), status: str | None = None) -> None:
        """Put an instance in the catalog directly (as another client would); status: a service
        check with that status (passing | warning | critical), None for no check."""
        body = {"Node": node, "Address": address,
                "Service": {"ID": service_id or service, "Service": service, "Address": service_address,
                            "Port": port, "Tags": list(tags)}}
        if status:
            body["Check"] = {"CheckID": f"service:{service_id or service}", "Name": "check",
                             "Status": status, "ServiceID": service_id or service}
        with self.cond:
            self._catalog_register(body)

    def set_check(self, node: str, check_id: str, status: str) -> None:
        with self.cond:
            self.checks[(node, check_id)]["Status"] = status
            self._bump()

    def deregister(self, node: str, service_id: str) -> None:
        with self.cond:
            self._catalog_deregister({"Node": node, "ServiceID": service_id})

    def instances(self, service: str) -> list[dict]:
        """(node, node address, service address, port, tags) of the service's instances."""
        with self.cond:
            return [{"node": n, "address": self.nodes[n]["Address"], "service_address": s["Address"],
                     "port": s["Port"], "tags": list(s["Tags"]), "id": s["ID"]}
                    for (n, _), s in sorted(self.services.items()) if s["Service"] == service]

    def seen(self, method: str | None = None, prefix: str = "/") -> list[Request]:
        return [r for r in list(self.requests)
                if (method is None or r.method == method) and r.path.startswith(prefix)]

    # -- state -------------------------------------------------------------------------------
    def _bump(self) -> None:
        self.index += 1
        self.cond.notify_all()

    def _node(self, name: str, address: str, tagged=None, meta=None) -> dict:
        n = self.nodes.get(name)
        if n is None:
            n = self.nodes[name] = {"ID": "", "Node": name, "Address": address, "Datacenter": self.dc,
                                    "TaggedAddresses": tagged or {"lan": address, "wan": address},
                                    "Meta": meta or {}, "CreateIndex": self.index + 1,
                                    "ModifyIndex": self.index + 1}
        return n

    def _catalog_register(self, body: dict) -> tuple[int, object]:
        node, address = body.get("Node"), body.get("Address")
        if not node:
            return 400, "Must provide node"
        if not address and node not in self.nodes:
            return 400, "Must provide address if SkipNodeUpdate is not set"
        n = self._node(node, address, body.get("TaggedAddresses"), body.get("NodeMeta"))
        if not body.get("SkipNodeUpdate") and address:
            n["Address"] = address
        svc = body.get("Service")
        if svc:
            if not svc.get("Service"):
                return 400, "Must provide service name with ID"
            sid = svc.get("ID") or svc["Service"]
            old = self.services.get((node, sid))
            self.services[(node, sid)] = {
                "ID": sid, "Service": svc["Service"], "Tags": list(svc.get("Tags") or []),
                "Address": svc.get("Address") or "", "Port": int(svc.get("Port") or 0),
                "Meta": dict(svc.get("Meta") or {}),
                "CreateIndex": old["CreateIndex"] if old else self.index + 1, "ModifyIndex": self.index + 1}
        for chk in ([body["Check"]] if body.get("Check") else []) + list(body.get("Checks") or []):
            cid = chk.get("CheckID") or chk.get("Name")
            self.checks[(node, cid)] = {"Node": node, "CheckID": cid, "Name": chk.get("Name", cid),
                                        "Status": chk.get("Status", "critical"),
                                        "ServiceID": chk.get("ServiceID", ""),
                                        "ServiceName": self.services.get((node, chk.get("ServiceID", "")),
                                                                         {}).get("Service", "")}
        self._bump()
        return 200, True

    def _catalog_deregister(self, body: dict) -> tuple[int, object]:
        node = body.get("Node")
        if not node:
            return 400, "Must provide node"
        if body.get("ServiceID"):
            self.services.pop((node, body["ServiceID"]), None)
            for k in [k for k, c in self.checks.items() if k[0] == node and c["ServiceID"] == body["ServiceID"]]:
                del self.checks[k]
        elif body.get("CheckID"):
            self.checks.pop((node, body["CheckID"]), None)
        else:
            self.nodes.pop(node, None)
            for d in (self.services, self.checks):
                for k in [k for k in d if k[0] == node]:
                    del d[k]
        self._bump()
        return 200, True

    def _catalog_service(self, name: str, q: dict) -> list:
        out = []
        tag = q.get("tag")
        for (node, _), s in sorted(self.services.items()):
            if s["Service"] != name or (tag and tag not in s["Tags"]):
                continue
            n = self.nodes[node]
            out.append({"ID": n["ID"], "Node": node, "Address": n["Address"], "Datacenter": self.dc,
                        "TaggedAddresses": n["TaggedAddresses"], "NodeMeta": n["Meta"],
                        "ServiceID": s["ID"], "ServiceName": s["Service"], "ServiceTags": s["Tags"],
                        "ServiceAddress": s["Address"], "ServicePort": s["Port"], "ServiceMeta": s["Meta"],
                        "CreateIndex": s["CreateIndex"], "ModifyIndex": s["ModifyIndex"]})
        return out

    def _health_service(self, name: str, q: dict) -> list:
        out = []
        tag = q.get("tag")
        for (node, sid), s in sorted(self.services.items()):
            if s["Service"] != name or (tag and tag not in s["Tags"]):
                continue
            checks = [dict(c) for (cn, _), c in sorted(self.checks.items())
                      if cn == node and c["ServiceID"] in ("", sid)]
            if "passing" in q and q["passing"] not in ("false", "0") and any(
                    c["Status"] != "passing" for c in checks):
                continue
            n = self.nodes[node]
            out.append({"Node": {k: n[k] for k in ("ID", "Node", "Address", "Datacenter", "TaggedAddresses",
                                                     "Meta", "CreateIndex", "ModifyIndex")},
                        "Service": {k: s[k] for k in ("ID", "Service", "Tags", "Address", "Port", "Meta",
                                                      "CreateIndex", "ModifyIndex")},
                        "Checks": checks})
        return out

    # -- HTTP ----------------------------------------------------------------------------------
    def _handle(self, h: http.server.BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append(Request(method, url.path, q, {k.lower(): v for k, v in h.headers.items()}, body))
        failure = None
        with self.cond:
            for f in self.failures:
                if f["count"] > 0 and url.path.startswith(f["path"]):
                    f["count"] -= 1
                    failure = dict(f)
                    break
        if failure:
            mode = failure["mode"]
            if mode == "reset":
                h.close_connection = True
                try:
                    h.connection.shutdown(2)
                except OSError:
                    pass
                return
            if mode == "500":
                return self._send(h, 500, b"rpc error making call: No cluster leader", "text/plain")
            if mode == "slow":
                time.sleep(failure["delay"])
            if mode == "badjson":
                return self._send(h, 200, b'[{"Node": {"Node": "x", "Addr', "application/json",
                                  {"X-Consul-Index": str(self.index)})
        # ACL
        if self.token is not None:
            got = (h.headers.get("X-Consul-Token") or q.get("token")
                   or (h.headers.get("Authorization") or "").removeprefix("Bearer ").strip() or None)
            if got is None:
                return self._send(h, 403, b"Permission denied", "text/plain")
            if got != self.token:
                return self._send(h, 403, b"ACL not found", "text/plain")
        p = url.path
        if method == "GET":
            m = re.fullmatch(r"/v1/(catalog|health)/service/([^/]+)", p)
            if m:
                return self._blocking(h, q, lambda: (self._catalog_service if m.group(1) == "catalog"
                                                     else self._health_service)(urllib.parse.unquote(m.group(2)), q))
            if p == "/v1/status/leader":
                return self._json(h, 200, "127.0.0.1:8300")
            return self._send(h, 404, b"404 page not found", "text/plain")
        if method not in ("PUT", "POST"):
            return self._send(h, 405, b"method not allowed", "text/plain")
        if raw and not isinstance(body, (dict, type(None))):
            return self._send(h, 400, b"Request decode failed: invalid character", "text/plain")
        body = body or {}
        with self.cond:
            if p == "/v1/catalog/register":
                code, out = self._catalog_register(body)
            elif p == "/v1/catalog/deregister":
                code, out = self._catalog_deregister(body)
            elif p == "/v1/agent/service/register":
                name = body.get("Name")
                if not name:
                    code, out = 400, "Missing service name"
                else:
                    code, out = self._catalog_register({
                        "Node": self.agent_node, "SkipNodeUpdate": True,
                        "Service": {"ID": body.get("ID") or name, "Service": name, "Tags": body.get("Tags"),
                                    "Address": body.get("Address"), "Port": body.get("Port"),
                                    "Meta": body.get("Meta")}})
                    out = None if code == 200 else out
            elif p.startswith("/v1/agent/service/deregister/"):
                sid = urllib.parse.unquote(p.rsplit("/", 1)[1])
                if (self.agent_node, sid) not in self.services:
                    code, out = 404, f'Unknown service ID "{sid}". Ensure that the service ID is passed, not the service name.'
                else:
                    code, out = self._catalog_deregister({"Node": self.agent_node, "ServiceID": sid})
                    out = None
            else:
                code, out = 404, "404 page not found"
        if code != 200:
            return self._send(h, code, str(out).encode(), "text/plain")
        if out is None:
            return self._send(h, 200, b"", "text/plain")
        return self._json(h, 200, out)

    def _blocking(self, h, q: dict, answer) -> None:
        try:
            want = int(q.get("index") or 0)
        except ValueError:
            return self._send(h, 400, b"Invalid index", "text/plain")
        deadline = time.monotonic() + _wait_seconds(q.get("wait"))
        with self.cond:
            while want and self.index <= want and time.monotonic() < deadline:
                self.cond.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            body, index = answer(), self.index
        self._json(h, 200, body, {"X-Consul-Index": str(index), "X-Consul-KnownLeader": "true",
                                  "X-Consul-LastContact": "0"})

    def _json(self, h, code: int, obj, headers=None) -> None:
        self._send(h, code, json.dumps(obj).encode(), "application/json", headers)

    @staticmethod
    def _send(h, code: int, body: bytes, ctype: str, headers=None) -> None:
        try:
            h.send_response(code)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass
