"""Run one session-manager-plugin per forward, watch them and the task, clean up on every exit.

State lives in memory only: for each forward a `Slot` (its SSM session id, plugin process, the
local port the plugin reported, an optional relay). The main thread waits on one event queue fed
by a reader thread per plugin (its output lines, then its exit), by the signal handlers, and by
timers (task watch, reconnect back-off). Whatever ends the run, every plugin is stopped (SIGINT,
then SIGKILL after a grace period) and every SSM session that was started is terminated.
"""
from __future__ import annotations

import collections
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from .forwards import Forward, plugin_argv, plugin_takes_env_response, start_session_request
from .log import Log
from .preflight import EXIT_NOT_RUNNING, EXIT_PLUGIN, PreflightError, Target
from .relay import Relay

ENV_NAME = "AWS_SSM_START_SESSION_RESPONSE"
PORT_OPENED = re.compile(rb"Port (\d+) opened")
GRACE_S = 3.0
PR_SET_PDEATHSIG = 1


def _die_with_us():
    """A preexec_fn that has the kernel send SIGTERM to the plugin when we die, kill -9 included
    (the plugins run in their own process groups, so nothing else would stop them and they
    would keep their local ports open). Linux only; elsewhere a no-op."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec():
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # we died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


@dataclass
class Slot:
    index: int
    fwd: Forward
    session_id: str | None = None
    proc: subprocess.Popen | None = None
    local_port: int | None = None
    sticky_port: int = 0     # the port an ephemeral (-l 0) forward got first: asked for again on reconnect
    relay: Relay | None = None
    restarts: int = 0
    started_at: float = 0.0
    generation: int = 0
    live_sessions: list[str] = field(default_factory=list)
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=3))


class Runner:
    def __init__(self, *, ecs, ssm, region: str, profile: str | None, target: Target,
                 forwards: list[Forward], plugin: str, plugin_version: str, log: Log,
                 reconnect: bool = False, public: bool = False, watch_interval: float = 10.0,
                 max_backoff: float = 30.0, stable_after: float = 60.0):
        self.ecs, self.ssm = ecs, ssm
        self.region, self.profile = region, profile
        self.target = target
        self.slots = [Slot(i, f) for i, f in enumerate(forwards)]
        self.plugin, self.plugin_version = plugin, plugin_version
        self.log = log
        self.reconnect = reconnect
        self.public = public
        self.watch_interval = watch_interval
        self.max_backoff = max_backoff
        self.stable_after = stable_after  # a session that lived this long resets the back-off
        self.events: queue.Queue = queue.Queue()
        self.stopping = False
        self.ssm_endpoint = ssm.meta.endpoint_url
        self.preexec = _die_with_us()

    # -- sessions ---------------------------------------------------------------------------
    def _start(self, slot: Slot) -> None:
        fwd = slot.fwd
        if self.public:  # the relay holds the public port; the plugin listens on any local one
            plugin_fwd = Forward(0, fwd.remote_port, fwd.remote_host)
        elif fwd.local_port == 0 and slot.sticky_port:  # reconnect: the port clients were told
            plugin_fwd = Forward(slot.sticky_port, fwd.remote_port, fwd.remote_host)
        else:
            plugin_fwd = fwd
        req = start_session_request(self.target.ssm_target, plugin_fwd)
        resp = self.ssm.start_session(**req)
        sid = resp["SessionId"]
        slot.session_id = sid
        slot.live_sessions.append(sid)
        session = json.dumps({"SessionId": sid, "TokenValue": resp.get("TokenValue", ""),
                              "StreamUrl": resp.get("StreamUrl", "")})
        env = dict(os.environ)
        if plugin_takes_env_response(self.plugin_version):
            env[ENV_NAME] = session
            first = ENV_NAME
        else:  # old plugins only read argv; say so, the token is visible in ps
            self.log.event("warning", f"session-manager-plugin {self.plugin_version} is older than 1.2.497.0: "
                           "the session token goes on its command line; upgrade the plugin")
            first = session
        argv = plugin_argv(self.plugin, first, self.region, self.profile, req, self.ssm_endpoint)
        self.log.debug("exec", "running " + " ".join(argv[:1] + [ENV_NAME if first == ENV_NAME else "<session>"] + argv[2:]))
        slot.generation += 1
        slot.started_at = time.monotonic()
        slot.local_port = None
        slot.tail.clear()
        try:
            slot.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=self.preexec)
        except OSError as e:  # gone or broken since the preflight; the session is terminated on the way out
            raise PreflightError(f"cannot run {self.plugin}: {e.strerror or e}", EXIT_PLUGIN) from None
        self.log.event("session_started", f"session {sid} started: {fwd.describe()}",
                       session_id=sid, forward=slot.index, remote_host=fwd.remote_host or None,
                       remote_port=fwd.remote_port, pid=slot.proc.pid)
        threading.Thread(target=self._read, args=(slot, slot.proc, slot.generation), daemon=True).start()

    def _read(self, slot: Slot, proc: subprocess.Popen, gen: int) -> None:
        for line in proc.stdout:
            self.events.put(("line", slot, gen, line))
        proc.stdout.close()
        self.events.put(("exit", slot, gen, proc.wait()))

    def _terminate_session(self, slot: Slot, sid: str) -> None:
        try:
            self.ssm.terminate_session(SessionId=sid)
            self.log.event("session_terminated", f"session {sid} terminated", session_id=sid)
        except Exception as e:  # noqa: BLE001 - a failed cleanup is reported, never fatal
            self.log.event("terminate_failed", f"could not terminate session {sid}: {e}", session_id=sid)
        if sid in slot.live_sessions:
            slot.live_sessions.remove(sid)

    def _stop_plugins(self) -> None:
        procs = [s.proc for s in self.slots if s.proc and s.proc.poll() is None]
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + GRACE_S
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        for s in self.slots:
            if s.relay:
                s.relay.close()
                s.relay = None

    def _shutdown(self) -> None:
        self.stopping = True
        self._stop_plugins()
        for s in self.slots:
            for sid in list(s.live_sessions):
                self._terminate_session(s, sid)

    # -- events -----------------------------------------------------------------------------
    def _on_line(self, slot: Slot, line: bytes) -> int | None:
        """Handle one line of a plugin's output; an exit status when the run must end."""
        text = line.decode("utf-8", "replace").strip()
        if text:
            self.log.debug("plugin", text, forward=slot.index)
            slot.tail.append(text)
        m = PORT_OPENED.search(line)
        if not m:
            return None
        port = int(m.group(1))
        if self.public and slot.relay:  # a reconnect: same public port, new plugin behind it
            slot.relay.to_port = port
            port, addr = slot.relay.port, "0.0.0.0"
        elif self.public:
            try:
                slot.relay = Relay("0.0.0.0", slot.fwd.local_port, port)
            except OSError as e:
                self.log.event("relay_failed", f"cannot listen on 0.0.0.0:{slot.fwd.local_port} for --public: "
                               f"{e.strerror or e}", forward=slot.index, local_port=slot.fwd.local_port)
                return 1
            port, addr = slot.relay.port, "0.0.0.0"
        else:
            addr = "127.0.0.1"
            if slot.fwd.local_port == 0 and not slot.sticky_port:
                slot.sticky_port = port
        slot.local_port = port
        self.log.event("port_opened", f"listening on {addr}:{port} -> {slot.fwd.describe().split(' -> ')[1]}",
                       forward=slot.index, local_address=addr, local_port=port, session_id=slot.session_id)
        return None

    def _schedule_reconnect(self, slot: Slot, timers: list, lived: float = 0.0) -> None:
        if lived >= self.stable_after:
            slot.restarts = 0  # it had been working: a drop hours later starts again at 0.5 s
        delay = min(self.max_backoff, 2.0 ** slot.restarts * 0.5)
        slot.restarts += 1
        self.log.event("reconnect", f"reconnecting forward {slot.index} in {delay:.1f}s",
                       forward=slot.index, delay=delay, attempt=slot.restarts)
        timers.append((time.monotonic() + delay, slot))

    def _restart(self, slot: Slot, timers: list) -> None:
        """Reopen a forward's session; a failure (the network that dropped the session is often
        still down) is retried with back-off, never the end of a --reconnect run."""
        try:
            self._start(slot)
        except Exception as e:  # noqa: BLE001 - botocore errors, a plugin that cannot start
            self.log.event("reconnect_failed", f"could not reopen forward {slot.index}: {e}",
                           forward=slot.index, attempt=slot.restarts)
            for sid in list(slot.live_sessions):  # started, but its plugin did not run
                self._terminate_session(slot, sid)
            self._schedule_reconnect(slot, timers)

    def _task_running(self) -> bool:
        try:
            d = self.ecs.describe_tasks(cluster=self.target.cluster, tasks=[self.target.task_id])
        except Exception as e:  # noqa: BLE001 - a transient API error is not a stopped task
            self.log.event("watch_error", f"could not describe the task: {e}")
            return True
        tasks = d.get("tasks") or []
        return bool(tasks) and tasks[0].get("lastStatus") == "RUNNING"

    def run(self) -> int:
        """Start every forward and wait; return the exit status."""
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        for s in old:
            signal.signal(s, lambda signum, _f: self.events.put(("signal", None, 0, signum)))
        try:
            for slot in self.slots:
                self._start(slot)
            return self._loop()
        finally:
            self._shutdown()
            for s, h in old.items():
                signal.signal(s, h)

    def _loop(self) -> int:
        next_watch = time.monotonic() + self.watch_interval
        timers: list[tuple[float, Slot]] = []
        while True:
            now = time.monotonic()
            due = min([next_watch] + [t for t, _ in timers])
            try:
                kind, slot, gen, value = self.events.get(timeout=max(0.0, due - now))
            except queue.Empty:
                kind = None
            now = time.monotonic()
            for t, s in [x for x in timers if x[0] <= now]:
                timers.remove((t, s))
                if not self._task_running():
                    self.log.event("task_stopped", f"task {self.target.task_id} is no longer RUNNING")
                    return EXIT_NOT_RUNNING
                self._restart(s, timers)
            if now >= next_watch:
                next_watch = now + self.watch_interval
                if not self._task_running():
                    self.log.event("task_stopped", f"task {self.target.task_id} is no longer RUNNING: "
                                   "stopping the sessions")
                    return EXIT_NOT_RUNNING
            if kind == "signal":
                name = signal.Signals(value).name
                self.log.event("signal", f"{name}: stopping the sessions", signal=name)
                return 130 if value == signal.SIGINT else 128 + value
            if kind == "line" and gen == slot.generation:
                status = self._on_line(slot, value)
                if status is not None:
                    return status
            elif kind == "exit" and gen == slot.generation:
                rc = value
                why = f": {slot.tail[-1]}" if rc != 0 and slot.tail else ""
                self.log.event("plugin_exited", f"session {slot.session_id} ended (plugin exit status {rc}){why}",
                               forward=slot.index, status=rc, session_id=slot.session_id,
                               output=list(slot.tail) if rc != 0 else None)
                if slot.session_id in slot.live_sessions:
                    self._terminate_session(slot, slot.session_id)
                if self.reconnect:  # a --public relay stays: its port is the one clients know
                    self._schedule_reconnect(slot, timers, lived=time.monotonic() - slot.started_at)
                    continue
                return 0 if rc == 0 else 1
