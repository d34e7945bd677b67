"""The steps of MHA's commands against Consul's catalog (or a local agent).

status  : is Consul answering (with our token), and is the original master registered?
stop    : deregister the original master's instance(s) of the service; none there is a success
stopssh : the same (MHA uses it when the old master is still reachable by SSH)
start   : register the new master's instance, unless it is already there exactly, then read it
          back from the catalog (or health ?passing) until it shows, within a deadline

Each step is reported by emit(dict) (one JSON line for MHA's log); a failed step raises
StepFailed and no later step runs."""
from __future__ import annotations

import ipaddress
import time
import urllib.parse
from dataclasses import dataclass, field

from mha_consul_failover.consul import Client, ConsulError


@dataclass
class Target:
    service: str                       # the service name clients look up (mysql-master ...)
    service_id: str                    # the instance ID (default: the name)
    tags: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    port: int | None = None            # None: the master's own port
    node: str | None = None            # None: the master's host name as MHA gives it
    use_agent: bool = False
    read_back: str = "catalog"         # catalog | health
    read_back_timeout: float = 10.0


@dataclass
class Master:
    host: str
    ip: str
    port: int


class StepFailed(Exception):
    pass


def same_ip(a: str, b: str) -> bool:
    """Addresses compared as addresses (::1 == 0:0:0:0:0:0:0:1), text otherwise."""
    try:
        x, y = ipaddress.ip_address(a.split("%", 1)[0]), ipaddress.ip_address(b.split("%", 1)[0])
    except ValueError:
        return a == b
    if x.version == 6 and x.ipv4_mapped:
        x = x.ipv4_mapped
    if y.version == 6 and y.ipv4_mapped:
        y = y.ipv4_mapped
    return x == y


def address_of(entry: dict) -> str:
    """A catalog entry's service address: ServiceAddress when set, else the node's Address."""
    return entry.get("ServiceAddress") or entry.get("Address") or ""


class Runner:
    def __init__(self, client: Client, target: Target, emit, clock=time.monotonic, sleep=time.sleep):
        self.c = client
        self.t = target
        self.emit = emit
        self.clock = clock
        self.sleep = sleep

    # -- one HTTP step, reported -------------------------------------------------------------
    def _call(self, step: str, method: str, path: str, body=None, query=None, ok=(200,), **fields):
        t0 = self.clock()
        try:
            status, data, attempts = self.c.call(method, path, body, query, ok_statuses=ok)
        except ConsulError as e:
            self.emit({"step": step, "result": "error", "error": str(e), "kind": e.kind,
                       "http_status": e.status, "attempts": e.attempts,
                       "elapsed": round(self.clock() - t0, 3), **fields})
            raise StepFailed(step) from None
        return status, data, attempts, round(self.clock() - t0, 3)

    def instances(self, step: str) -> list[dict]:
        path = "/v1/catalog/service/" + urllib.parse.quote(self.t.service, safe="")
        _, data, attempts, elapsed = self._call(step, "GET", path)
        if not isinstance(data, list):
            self.emit({"step": step, "result": "error", "error": "the catalog answer is not a list"})
            raise StepFailed(step)
        return data

    def _mine(self, entries: list[dict], ip: str) -> list[dict]:
        return [e for e in entries if e.get("ServiceID") == self.t.service_id and same_ip(address_of(e), ip)]

    # -- the commands ----------------------------------------------------------------------------
    def status(self, orig: Master | None) -> None:
        entries = self.instances("status")
        fields = {"service": self.t.service, "instances": [
            {"node": e.get("Node"), "service_id": e.get("ServiceID"), "address": address_of(e),
             "port": e.get("ServicePort")} for e in entries]}
        if orig is not None:
            fields["orig_master_registered"] = bool(self._mine(entries, orig.ip))
        self.emit({"step": "status", "result": "ok", **fields})

    def stop(self, orig: Master) -> None:
        entries = self.instances("lookup")
        victims = self._mine(entries, orig.ip)
        if not victims:
            self.emit({"step": "deregister", "result": "already gone", "service": self.t.service,
                       "service_id": self.t.service_id, "address": orig.ip})
            return
        if self.t.use_agent:
            # only when the catalog shows our instance at the old master's address: the ID on the
            # agent might already name the new master's instance
            path = "/v1/agent/service/deregister/" + urllib.parse.quote(self.t.service_id, safe="")
            status, _, attempts, elapsed = self._call("deregister", "PUT", path, ok=(200, 404),
                                                      service_id=self.t.service_id)
            self.emit({"step": "deregister", "result": "ok" if status == 200 else "already gone",
                       "via": "agent", "service_id": self.t.service_id, "attempts": attempts,
                       "elapsed": elapsed})
            self._wait_for(lambda es: not self._mine(es, orig.ip), "read back", orig.ip, "gone")
            return
        for e in victims:
            body = {"Node": e["Node"], "ServiceID": e["ServiceID"]}
            _, _, attempts, elapsed = self._call("deregister", "PUT", "/v1/catalog/deregister", body,
                                                 node=e["Node"], service_id=e["ServiceID"])
            self.emit({"step": "deregister", "result": "ok", "via": "catalog", "node": e["Node"],
                       "service_id": e["ServiceID"], "address": address_of(e), "attempts": attempts,
                       "elapsed": elapsed})
        self._wait_for(lambda es: not self._mine(es, orig.ip), "read back", orig.ip, "gone")

    def start(self, new: Master) -> None:
        port = self.t.port or new.port
        node = self.t.node or new.host

        def registered(entries):
            return [e for e in self._mine(entries, new.ip)
                    if e.get("ServicePort") == port and sorted(e.get("ServiceTags") or []) == sorted(self.t.tags)
                    and (self.t.use_agent or e.get("Node") == node)]

        if registered(self.instances("lookup")):
            self.emit({"step": "register", "result": "already registered", "service": self.t.service,
                       "service_id": self.t.service_id, "address": new.ip, "port": port})
            return
        svc = {"ID": self.t.service_id, "Service": self.t.service, "Tags": list(self.t.tags),
               "Address": new.ip, "Port": port, "Meta": dict(self.t.meta)}
        if self.t.use_agent:
            body = {"ID": svc["ID"], "Name": svc["Service"], "Tags": svc["Tags"], "Address": new.ip,
                    "Port": port, "Meta": svc["Meta"]}
            _, _, attempts, elapsed = self._call("register", "PUT", "/v1/agent/service/register", body)
            via = {"via": "agent"}
        else:
            body = {"Node": node, "Address": new.ip, "SkipNodeUpdate": True, "Service": svc}
            _, _, attempts, elapsed = self._call("register", "PUT", "/v1/catalog/register", body, node=node)
            via = {"via": "catalog", "node": node}
        self.emit({"step": "register", "result": "ok", **via, "service": self.t.service,
                   "service_id": self.t.service_id, "address": new.ip, "port": port,
                   "attempts": attempts, "elapsed": elapsed})
        self._wait_for(lambda es: bool(registered(es)), "read back", new.ip, "registered")

    # -- reading back --------------------------------------------------------------------------
    def _entries_for_read_back(self) -> list[dict]:
        if self.t.read_back != "health":
            return self.instances("read back")
        path = "/v1/health/service/" + urllib.parse.quote(self.t.service, safe="")
        _, data, _, _ = self._call("read back", "GET", path, query={"passing": "1"})
        # flatten to the catalog's shape
        return [{"Node": d["Node"]["Node"], "Address": d["Node"].get("Address", ""),
                 "ServiceID": d["Service"].get("ID"), "ServiceAddress": d["Service"].get("Address", ""),
                 "ServicePort": d["Service"].get("Port"), "ServiceTags": d["Service"].get("Tags") or []}
                for d in (data or []) if isinstance(d, dict) and "Node" in d and "Service" in d]

    def _wait_for(self, pred, step: str, ip: str, want: str) -> None:
        deadline = self.clock() + self.t.read_back_timeout
        reads = 0
        while True:
            reads += 1
            if pred(self._entries_for_read_back()):
                self.emit({"step": step, "result": "ok", "via": self.t.read_back, "address": ip,
                           "state": want, "reads": reads})
                return
            if self.clock() >= deadline:
                self.emit({"step": step, "result": "error", "via": self.t.read_back, "address": ip,
                           "error": f"not {want} after {self.t.read_back_timeout:g}s", "reads": reads})
                raise StepFailed(step)
            self.sleep(min(0.2 * reads, 1.0))
