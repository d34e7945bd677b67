"""A fake Docker Engine API on a unix socket, for the calls motarei makes, with the shapes of the
Docker Engine API reference (v1.43): GET /_ping, GET /version, GET /containers/json (filters:
label, status), GET /containers/{id}/json (State.Health), GET /events (filters: type, label;
a chunked stream of JSON objects). It records every request it received. The containers are
records in memory; their published ports are real loopback listeners the tests start."""
from __future__ import annotations

import datetime
import http.server
import json
import queue
import re
import socketserver
import threading
import time
import urllib.parse

API_VERSION = "1.43"


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakeDocker:
    def __init__(self, path: str):
        self.path = path
        self.containers: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.subscribers: list[tuple[queue.Queue, dict]] = []
        self.history: list[dict] = []
        self.lock = threading.Lock()
        self.closed = False
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def address_string(self):
                return "unix"

            def do_GET(self):
                fake._get(self)

        self.server = _Server(path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    # -- the state the tests drive ----------------------------------------------------------
    def add(self, cid: str, created: int, labels: dict, ports: list[tuple[int, int]], health: str | None = None,
            event: bool = True, name: str | None = None) -> None:
        """A running container; ports are (private, public) TCP pairs published on 0.0.0.0 and ::
        (Docker lists each twice); health is the HEALTHCHECK status, None for an image without one."""
        c = {"Id": cid, "Names": [f"/{name or cid[:12]}"], "Image": "example/app:latest", "ImageID": "sha256:" + "0" * 64,
             "Command": "/app", "Created": created, "Labels": dict(labels), "State": "running",
             "Status": "Up 1 second" + ({"healthy": " (healthy)", "unhealthy": " (unhealthy)",
                                          "starting": " (health: starting)"}.get(health, "")),
             "Ports": [p for priv, pub in ports for p in (
                 {"IP": "0.0.0.0", "PrivatePort": priv, "PublicPort": pub, "Type": "tcp"},
                 {"IP": "::", "PrivatePort": priv, "PublicPort": pub, "Type": "tcp"})],
             "NetworkSettings": {"Networks": {}}, "Mounts": [],
             "_health": health}
        with self.lock:
            self.containers[cid] = c
        if event:
            self.emit("start", cid)

    def stop(self, cid: str, event: bool = True) -> None:
        """`docker stop`: kill, die, stop events, then the container is no longer running."""
        if event:
            self.emit("kill", cid, signal="15")
        with self.lock:
            c = self.containers.get(cid)
            if c:
                c["State"] = "exited"
        if event:
            self.emit("die", cid, exitCode="0")
            self.emit("stop", cid)

    def set_health(self, cid: str, health: str) -> None:
        with self.lock:
            self.containers[cid]["_health"] = health
        self.emit(f"health_status: {health}", cid)

    def emit(self, action: str, cid: str, **attrs) -> None:
        c = self.containers.get(cid, {})
        now = time.time()
        ev = {"status": action, "id": cid, "from": c.get("Image", ""), "Type": "container", "Action": action,
              "Actor": {"ID": cid, "Attributes": {**c.get("Labels", {}), "image": c.get("Image", ""),
                                                   "name": c.get("Names", ["/x"])[0][1:], **attrs}},
              "scope": "local", "time": int(now), "timeNano": int(now * 1e9)}
        with self.lock:
            self.history.append(ev)
            subs = list(self.subscribers)
        for q, filters in subs:
            if self._event_matches(ev, filters):
                q.put(ev)

    def close(self) -> None:
        self.closed = True
        with self.lock:
            for q, _ in self.subscribers:
                q.put(None)
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.requests]

    # -- the API -----------------------------------------------------------------------------
    def _get(self, h) -> None:
        url = urllib.parse.urlsplit(h.path)
        path = re.sub(r"^/v1\.\d+", "", url.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        self.requests.append(("GET", path, query))
        filters = json.loads(query["filters"]) if query.get("filters") else {}
        if path == "/_ping":
            return self._send(h, 200, b"OK", "text/plain")
        if path == "/version":
            return self._json(h, 200, {"Version": "24.0.9", "ApiVersion": API_VERSION, "MinAPIVersion": "1.12",
                                       "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0",
                                       "GitCommit": "fake", "GoVersion": "go1.20"})
        if path == "/containers/json":
            want_all = query.get("all") in ("1", "true", "True")
            with self.lock:
                cs = [self._public(c) for c in self.containers.values()
                      if (want_all or c["State"] == "running") and self._labels_match(c["Labels"], filters)]
            cs.sort(key=lambda c: -c["Created"])
            return self._json(h, 200, cs)
        m = re.fullmatch(r"/containers/([^/]+)/json", path)
        if m:
            c = self._find(m.group(1))
            if c is None:
                return self._json(h, 404, {"message": f"No such container: {m.group(1)}"})
            return self._json(h, 200, self._inspect(c))
        if path == "/events":
            return self._events(h, filters, query.get("since"), query.get("until"))
        return self._json(h, 404, {"message": "page not found"})

    def _find(self, ref: str):
        with self.lock:
            for cid, c in self.containers.items():
                if cid.startswith(ref) or c["Names"][0] == "/" + ref:
                    return c
        return None

    @staticmethod
    def _public(c: dict) -> dict:
        return {k: v for k, v in c.items() if not k.startswith("_")}

    @staticmethod
    def _labels_match(labels: dict, filters: dict) -> bool:
        for f in filters.get("label", []):
            k, eq, v = f.partition("=")
            if k not in labels or (eq and labels[k] != v):
                return False
        return True

    def _event_matches(self, ev: dict, filters: dict) -> bool:
        if filters.get("type") and ev["Type"] not in filters["type"]:
            return False
        return self._labels_match(ev["Actor"]["Attributes"], filters)

    def _inspect(self, c: dict) -> dict:
        created = datetime.datetime.fromtimestamp(c["Created"], datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        state = {"Status": c["State"], "Running": c["State"] == "running", "Paused": False, "Restarting": False,
                 "OOMKilled": False, "Dead": False, "Pid": 4242, "ExitCode": 0, "Error": "",
                 "StartedAt": created, "FinishedAt": "0001-01-01T00:00:00Z"}
        config = {"Hostname": c["Id"][:12], "Image": c["Image"], "Labels": c["Labels"],
                  "ExposedPorts": {f"{p['PrivatePort']}/tcp": {} for p in c["Ports"]}}
        if c["_health"] is not None:
            state["Health"] = {"Status": c["_health"], "FailingStreak": 0, "Log": []}
            config["Healthcheck"] = {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000}
        ports: dict = {}
        for p in c["Ports"]:
            ports.setdefault(f"{p['PrivatePort']}/tcp", []).append({"HostIp": p["IP"], "HostPort": str(p["PublicPort"])})
        return {"Id": c["Id"], "Created": created, "Path": "/app", "Args": [], "State": state,
                "Image": c["ImageID"], "Name": c["Names"][0], "RestartCount": 0, "Config": config,
                "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {"Ports": ports, "Networks": {}}, "Mounts": []}

    def wait_subscribed(self, n: int = 1, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.subscribers) >= n:
                return True
            time.sleep(0.02)
        return False

    def _events(self, h, filters: dict, since: str | None = None, until: str | None = None) -> None:
        q: queue.Queue = queue.Queue()
        with self.lock:
            self.subscribers.append((q, filters))
            if since:                                   # replay what happened since then
                for ev in self.history:
                    if ev["time"] >= float(since) and self._event_matches(ev, filters):
                        q.put(ev)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Api-Version", API_VERSION)
        h.end_headers()
        h.wfile.flush()
        try:
            while not self.closed:
                try:
                    ev = q.get(timeout=0.1 if until else 0.5)
                except queue.Empty:
                    if until and time.time() > float(until):
                        break                           # `until`: the stream ends then
                    continue
                if ev is None:
                    break
                data = json.dumps(ev).encode() + b"\n"
                h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except OSError:
            pass
        finally:
            with self.lock:
                self.subscribers[:] = [s for s in self.subscribers if s[0] is not q]
            h.close_connection = True

    def _json(self, h, code: int, obj) -> None:
        self._send(h, code, json.dumps(obj).encode(), "application/json")

    def _send(self, h, code: int, body: bytes, ctype: str) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Api-Version", API_VERSION)
        h.end_headers()
        h.wfile.write(body)
