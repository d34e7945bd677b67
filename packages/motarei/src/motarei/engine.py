"""The Docker Engine API through the docker SDK (blocking calls, run in threads by the server)."""
from __future__ import annotations

import threading


class Engine:
    def __init__(self, labels: list[str], timeout: float = 10.0):
        import docker  # heavy: only when serving
        self.client = docker.from_env(timeout=timeout)
        self.labels = labels
        self._closed = threading.Event()

    def list(self) -> list[dict]:
        """Running containers with every label (GET /containers/json?filters=...)."""
        return self.client.api.containers(filters={"label": self.labels})

    def health(self, cid: str) -> str | None:
        """State.Health.Status, or None when the container has no HEALTHCHECK."""
        st = self.client.api.inspect_container(cid).get("State") or {}
        h = st.get("Health")
        return h.get("Status") if h else None

    def events(self, on_event, on_error, since: int | None = None) -> None:
        """Follow GET /events for containers with the labels until close(); calls on_event(dict)
        for each (from `since`, epoch seconds, so that nothing between a listing and the start of
        the stream is missed); on_error(exc) when the stream breaks."""
        try:
            stream = self.client.api.events(since=since, filters={"type": ["container"], "label": self.labels},
                                            decode=True)
            self._stream = stream
            for ev in stream:
                if self._closed.is_set():
                    return
                on_event(ev)
            if not self._closed.is_set():
                on_error(EOFError("events stream ended"))
        except Exception as e:                          # the SDK raises many kinds; all mean "broken"
            if not self._closed.is_set():
                on_error(e)

    def close(self) -> None:
        self._closed.set()
        s = getattr(self, "_stream", None)
        try:
            if s is not None:
                s.close()
        except Exception:
            pass
        try:
            self.client.close()
        except Exception:
            pass
