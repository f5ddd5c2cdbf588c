"""The running bot, assembled: tokens checked, the event store, the agent pool, bolt's App, and a transport.

Socket Mode when an app-level token (`SLACK_APP_TOKEN`, xapp-…) is set: the bot opens a WebSocket to Slack,
so it needs no public URL. Otherwise HTTP mode: Slack posts events to this process (behind an HTTPS proxy)
and bolt checks each request with the signing secret. One bot per data home (a lock file), because the event
store's notion of an unfinished request assumes one process owns it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

from productshot.errors import ProductshotError
from productshot.settings import Settings
from productshot.slack.app import create_app, listener_executor, make_client
from productshot.slack.config import SlackOptions, check_tokens
from productshot.slack.errors import SlackUnavailableError, slack_error
from productshot.slack.events_store import EventStore
from productshot.slack.files import download_origins
from productshot.slack.handlers import SlackBot
from productshot.slack.pool import AgentPool, TurnRunner
from productshot.slack.ratelimit import RateLimiter
from productshot.slack.server import EventsServer

logger = logging.getLogger(__name__)

LOCK_NAME = "slack.lock"
INBOX = Path("slack") / "inbox"


class SlackService:
    """`start()` brings the bot up (blocking until it can take events); `stop()` takes it down."""

    def __init__(
        self,
        settings: Settings,
        options: SlackOptions | None = None,
        *,
        runtime: AbstractAsyncContextManager[TurnRunner] | None = None,
    ) -> None:
        """`runtime` is the agent to share (default: the agent runtime the settings describe)."""
        self.settings = settings
        self.options = options or SlackOptions()
        self.mode = self.options.resolved_mode(settings)
        check_tokens(settings, self.mode)
        self._runtime = runtime
        self._lock = FileLock(str(settings.run_dir / LOCK_NAME), thread_local=False)
        self.store: EventStore | None = None
        self.pool: AgentPool[TurnRunner] | None = None
        self.bot: SlackBot | None = None
        self.app: App | None = None
        self._listeners: ThreadPoolExecutor | None = None
        self.server: EventsServer | None = None
        self.socket: SocketModeHandler | None = None

    @property
    def url(self) -> str | None:
        """The events URL in HTTP mode (None in Socket Mode or before start)."""
        return self.server.url if self.server else None

    def start(self) -> SlackService:
        self.settings.ensure_home()
        try:
            self._lock.acquire(timeout=0)
        except Timeout as exc:
            raise ProductshotError(
                f"another `productshot slack` is running on the data home {self.settings.home}; stop it first"
            ) from exc
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        options, settings = self.options, self.settings
        self.store = EventStore.open(settings)
        self.store.prune()
        client = make_client(str(settings.slack_bot_token), options.api_url)
        self.pool = AgentPool(
            self._runtime or self._agent_runtime(), workers=options.workers, queue_size=options.queue_size
        )
        self.bot = SlackBot(
            client=client,
            pool=self.pool,
            store=self.store,
            limiter=RateLimiter(options.rate_per_minute),
            policy=options.policy,
            inbox=settings.home / INBOX,
            download_origins=download_origins(options.api_url),
        )
        self._listeners = listener_executor()
        self.app = create_app(
            self.bot, signing_secret=settings.slack_signing_secret or "", executor=self._listeners
        )
        if self.mode == "http":  # bind the port before the slow part, so a busy port fails at once
            self.server = EventsServer(
                self.app, host=options.host, port=options.port, path=options.path, health=self.health
            )
        self.pool.start()
        recovered = self.bot.recover()
        if recovered:
            logger.info("told %d thread(s) that their request was interrupted by the last stop", recovered)
        if self.server is not None:
            self.server.start()
        else:
            self.socket = SocketModeHandler(
                self.app, app_token=str(settings.slack_app_token), web_client=client
            )
            try:
                self.socket.connect()
            except SlackApiError as exc:
                raise SlackUnavailableError(
                    f"Slack refused SLACK_APP_TOKEN at apps.connections.open (Socket Mode): {slack_error(exc)}"
                ) from exc
            except OSError as exc:
                raise SlackUnavailableError(f"Socket Mode could not connect to Slack: {exc}") from exc

    def _agent_runtime(self) -> AbstractAsyncContextManager[TurnRunner]:
        from productshot.agent.runtime import AgentRuntime

        return AgentRuntime.from_settings(
            self.settings, mcp_url=self.options.mcp_url, context=self.options.context
        )

    def health(self) -> dict[str, Any]:
        pool = self.pool
        return {
            "ok": pool is not None,
            "mode": self.mode,
            "pending": pool.pending if pool else 0,
            "capacity": pool.capacity if pool else 0,
        }

    def stop(self) -> None:
        """Stop taking events, let running requests finish (briefly), close the agent, release the lock."""
        try:
            if self.socket is not None:
                self.socket.close()
                self.socket = None
            if self.server is not None:
                self.server.stop()
                self.server = None
            if self._listeners is not None:  # listeners still deciding hand their jobs to the pool first
                self._listeners.shutdown(wait=True)
                self._listeners = None
            self.app = None
            if self.pool is not None:
                self.pool.stop()
                self.pool = None
        finally:
            if self._lock.is_locked:
                self._lock.release()

    def __enter__(self) -> SlackService:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["INBOX", "LOCK_NAME", "SlackService"]
