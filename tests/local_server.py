"""The fake platforms' HTTP side: an ASGI app served by uvicorn on 127.0.0.1 until stopped."""

import asyncio

import uvicorn
from starlette.types import ASGIApp

from bot.web import QuietServer


class LocalServer:
    """One app on a local port (a free one by default)."""

    def __init__(self) -> None:
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, app: ASGIApp, port: int = 0) -> None:
        """Serve the app; return once it listens (or raise why it could not)."""
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0)

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    async def serve_until_stopped(self) -> None:
        """Wait while it serves (for a fake run alone, in a process of its own)."""
        assert self._task is not None
        await self._task

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    @property
    def origin(self) -> str:
        """Its address, e.g. http://127.0.0.1:40123."""
        return f"http://127.0.0.1:{self.port}"
