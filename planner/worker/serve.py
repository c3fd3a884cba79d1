"""Serving the worker with uvicorn: in the foreground (`planner worker serve`) or embedded in a
background thread of the current process (tests, `planner run`), so it can never outlive it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import uvicorn

from planner.errors import UsageError
from planner.worker.accesslog import logging_config
from planner.worker.app import create_app
from planner.worker.service import WorkerConfig, WorkerService
from planner.worker.storage_errors import StorageError

API_PATH = "/api/v1"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_url(host: str, port: int) -> str:
    """The API base URL of a bound address."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{API_PATH}"


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (`serve` decides what a signal does: a graceful
    stop and exit 0, rather than uvicorn re-raising SIGTERM after shutting down), and with a
    prompt stop: uvicorn notices `should_exit` on a 0.1 s tick and then sleeps another 0.1 s
    before draining, which `planner run` would pay at the end of every run."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_exit(self) -> None:
        """Stop serving now (graceful: responses in progress are finished)."""
        self.should_exit = True
        self._exit_requested.set()

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 0)
        while (state.connections or state.tasks) and not self.force_exit:
            if time.monotonic() >= deadline:
                for task in state.tasks:
                    task.cancel(msg="graceful shutdown timed out")
                break
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio enables TCP_NODELAY only on sockets created with it, and
    # without it every kept-alive response body waited ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve(
    config: WorkerConfig,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
    handle_signals: bool = True,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (when `handle_signals`), `POST /shutdown`, or `stop` is set.

    `on_ready` gets the bound API URL once the socket listens and the service has started.

    Raises:
        UsageError: the address cannot be bound, or a storage root cannot be used.
    """
    sock = _bind(host, port)
    try:
        app = create_app(config)
    except StorageError as exc:
        # a storage root that cannot be made or opened (`--remote`, `--storage`) is bad input
        sock.close()
        raise UsageError(f"cannot use the storage of remote {exc.message}") from exc
    service: WorkerService = app.state.service
    server = _Server(
        uvicorn.Config(
            app,
            log_config=logging_config(),
            log_level=log_level,
            lifespan="on",
            access_log=log_level == "info",  # `-v`; credentials in query strings redacted
            timeout_graceful_shutdown=5,
        )
    )
    stop = stop or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    waiters = [
        asyncio.create_task(service.shutdown_requested.wait()),
        asyncio.create_task(stop.wait()),
    ]
    try:
        while not server.started:
            if serving.done():
                await serving
                return
            await asyncio.sleep(0.002)  # `planner run` waits for this: a short tick
        if handle_signals:
            # The process is the worker's own: what exists now (modules, models, the app) lives
            # as long as it does. Frozen, the collector stops walking it in every full
            # collection, which paused all clients for tens of milliseconds each time.
            gc.collect()
            gc.freeze()
        if on_ready is not None:
            on_ready(api_url(host, sock.getsockname()[1]))
        await asyncio.wait([serving, *waiters], return_when=asyncio.FIRST_COMPLETED)
        service.waits.close()  # long polls answer now: the server waits for open requests
        server.request_exit()
        await serving
    finally:
        for waiter in waiters:
            waiter.cancel()
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().remove_signal_handler(signum)
        sock.close()


class EmbeddedWorker:
    """The worker on a background thread of this process (so it dies with it).

    with EmbeddedWorker(config) as url: ...
    """

    def __init__(self, config: WorkerConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="planner-worker", daemon=True)

    def _main(self) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(
                self.config,
                self.host,
                self.port,
                on_ready=self._on_ready,
                handle_signals=False,
                stop=self._stop,
            )

        try:
            asyncio.run(run())
        except BaseException as exc:  # reported to the owner by start()
            self._error = exc
        finally:
            self._ready.set()

    def _on_ready(self, url: str) -> None:
        self.url = url
        self._ready.set()

    def start(self, timeout: float = 30.0) -> str:
        """Start serving; returns the API URL.

        Raises:
            UsageError: the worker could not start (the cause is chained).
        """
        self._thread.start()
        if not self._ready.wait(timeout) or not self.url:
            error = self._error
            # a UsageError says what is wrong (a damaged worker.db, say); anything else is named
            why = str(error) if isinstance(error, UsageError) else repr(error)
            raise UsageError(f"the embedded worker did not start: {why}") from error
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving and wait for the thread."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
