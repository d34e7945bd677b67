"""A small Consul HTTP API client (standard library only): where Consul is (as the consul CLI
finds it), the ACL token (never from argv), one timeout per attempt and bounded retries."""
from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_ADDR = "http://127.0.0.1:8500"


class ConsulError(Exception):
    """A call that failed for good. kind: unreachable | timeout | http | badjson."""

    def __init__(self, kind: str, message: str, status: int | None = None, attempts: int = 1):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.attempts = attempts


def base_url(addr: str | None, environ=os.environ) -> str:
    """--consul-addr, else CONSUL_HTTP_ADDR (URL or host:port; CONSUL_HTTP_SSL=true: https), else
    http://127.0.0.1:8500. Returned without a trailing slash."""
    a = (addr or environ.get("CONSUL_HTTP_ADDR") or DEFAULT_ADDR).strip()
    if a.startswith("unix://"):
        raise ValueError(f"{a}: a unix socket address is not supported; give http://host:port")
    if "://" not in a:
        ssl = environ.get("CONSUL_HTTP_SSL", "").lower() in ("1", "true", "t")
        a = ("https://" if ssl else "http://") + a
    u = urllib.parse.urlsplit(a)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"bad Consul address {a!r} (want http://host:port or host:port)")
    return a.rstrip("/")


def read_token(token_file: str | None, environ=os.environ) -> str | None:
    """--token-file, else CONSUL_HTTP_TOKEN, else CONSUL_HTTP_TOKEN_FILE; None: no token."""
    if token_file:
        with open(token_file, encoding="utf-8") as f:
            return f.read().strip() or None
    tok = environ.get("CONSUL_HTTP_TOKEN", "").strip()
    if tok:
        return tok
    path = environ.get("CONSUL_HTTP_TOKEN_FILE", "").strip()
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    return None


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = 5.0, retries: int = 2,
                 backoff: float = 0.2, sleep=time.sleep):
        self.url = url
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep

    def call(self, method: str, path: str, body=None, query: dict | None = None,
             ok_statuses=(200,)) -> tuple[int, object, int]:
        """(status, parsed JSON or text, attempts). Connection failures, timeouts, 5xx and an
        unparseable 200 are retried (retries times, backoff doubling up to 2s); any other status
        not in ok_statuses is a ConsulError at once (403: the token)."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        last: ConsulError | None = None
        for attempt in range(1, self.retries + 2):
            if attempt > 1:
                self.sleep(min(2.0, self.backoff * 2 ** (attempt - 2)))
            try:
                status, text = self._once(method, url, data)
            except ConsulError as e:
                e.attempts = attempt
                last = e
                continue
            if status in ok_statuses:
                if status != 200:
                    return status, text.decode("utf-8", "replace"), attempt
                if not text:
                    return status, None, attempt
                try:
                    return status, json.loads(text), attempt
                except ValueError:
                    last = ConsulError("badjson", f"{method} {path}: the answer is not JSON", status, attempt)
                    continue
            msg = text.decode("utf-8", "replace").strip()[:300] or http.client.responses.get(status, "")
            err = ConsulError("http", f"{method} {path}: HTTP {status}: {msg}", status, attempt)
            if status >= 500:
                last = err
                continue
            raise err
        raise last

    def _once(self, method: str, url: str, data: bytes | None) -> tuple[int, bytes]:
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("X-Consul-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            try:
                text = e.read()
            except OSError:
                text = b""
            return e.code, text
        except (TimeoutError, socket.timeout):
            raise ConsulError("timeout", f"{method} {_path(url)}: no answer within {self.timeout:g}s") from None
        except urllib.error.URLError as e:
            r = e.reason
            if isinstance(r, (TimeoutError, socket.timeout)):
                raise ConsulError("timeout", f"{method} {_path(url)}: no answer within {self.timeout:g}s") from None
            why = getattr(r, "strerror", None) or str(r)
            raise ConsulError("unreachable", f"{method} {_path(url)}: {why}") from None
        except (http.client.HTTPException, ConnectionError, OSError) as e:
            raise ConsulError("unreachable", f"{method} {_path(url)}: {getattr(e, 'strerror', None) or e or type(e).__name__}") from None


def _path(url: str) -> str:
    u = urllib.parse.urlsplit(url)
    return u.path
