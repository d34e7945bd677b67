# The suite's daemon template lifecycle.py: copied byte for byte from scripts/templates/daemon/lifecycle.py
# into each server package that lists "daemon/lifecycle" under [tool.suite] templates (scripts/sync-entry).
# Edit the template and run scripts/sync-entry, never a copy.
"""The life of a server: the signals it answers while it runs (signal_handlers: every server), and
for a relay whose connections are asyncio tasks (ppdp, motarei) the accept loop that starts a task
per connection and the graceful stop.

    conns = {}                                  # task -> its relay Stats (None until it has one)
    with signal_handlers(loop, stopping.set, reload):
        accepts = [asyncio.ensure_future(accept_loop(loop, s, name, log, conns, handle)) ...]
        await stopping.wait()
        return await shutdown(log, conns, accepts, listeners, cfg.shutdown_timeout)

shutdown() stops accepting at once (the accept tasks cancelled, the listening sockets closed), logs
`shutting down` with the open connections and the timeout, lets them finish for up to the timeout,
then cancels the rest (their close-reason `shutdown timeout`) and waits a moment for them to log
their end; it returns the exit status, 0. Without an open connection nothing waits."""
from __future__ import annotations

import asyncio
import contextlib
import signal

CANCEL_GRACE = 5.0      # seconds that cancelled connections get to close their sockets and log


@contextlib.contextmanager
def signal_handlers(loop, stop, reload):
    """SIGTERM and SIGINT call stop(), SIGHUP reload(), in the loop, for the life of the server;
    the handlers from before (the entry template's) come back after."""
    prev = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        yield
    finally:
        for sig, handler in prev.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


async def accept_loop(loop, lsock, name: str, log, conns: dict, handle) -> None:
    """Accept on the non-blocking listening socket lsock until cancelled: each connection is a task
    running handle(csock, peer), in conns while it runs. A failed accept (EMFILE, ENFILE,
    ECONNABORTED) is logged and the loop keeps serving."""
    while True:
        try:
            csock, peer = await loop.sock_accept(lsock)
        except OSError as e:
            log.warn("accept failed", listener=name, error=e.strerror or str(e))
            await asyncio.sleep(0.1)
            continue
        t = asyncio.ensure_future(handle(csock, peer))
        conns[t] = None
        t.add_done_callback(conns.pop)


async def shutdown(log, conns: dict, accepts: list, listeners, timeout: float) -> int:
    """The graceful stop (see the module's doc); conns maps each connection task to its Stats (or
    None), whose reason becomes `shutdown timeout` when the task is cancelled at the timeout."""
    for t in accepts:
        t.cancel()
    for s in listeners:
        s.close()
    open_ = [t for t in conns if not t.done()]
    log.info("shutting down", connections=len(open_), **{"shutdown-timeout": timeout})
    if open_:
        _, pending = await asyncio.wait(open_, timeout=timeout)
        for t in pending:
            st = conns.get(t)
            if st is not None:
                st.reason = "shutdown timeout"
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_GRACE)
    return 0


async def cancel(tasks) -> None:
    """Cancel background tasks and wait for them to end."""
    tasks = list(tasks)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
