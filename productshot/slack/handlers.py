"""What the bot does with a Slack message: decide fast on bolt's thread, make the shot on the agent pool.

On bolt's listener thread (after the event was already acknowledged): parse the event, claim it in the
event store (a retry or a twin event stops here), apply the admin's limits (channels, DMs, per-user rate),
react with :eyes:, check the attached file's type and size with files.info, and hand the job to the pool.
On the pool's loop: download the file with the bot token, run the agent with the Slack thread as the
conversation thread, upload the result into the thread with a line saying what served each step, and react
with :white_check_mark:. Whatever goes wrong is posted in the thread as a clear message, never dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from productshot.agent.errors import ToolServerError
from productshot.agent.replies import follow_up_hint
from productshot.agent.runtime import TurnResult
from productshot.errors import (
    BadImageError,
    BadRequestError,
    JobTimeoutError,
    ProductshotError,
    WorkerUnavailableError,
)
from productshot.slack.config import BotPolicy
from productshot.slack.errors import BotBusyError, BotStoppedError, FileDownloadError, slack_error
from productshot.slack.events_store import EventStore
from productshot.slack.files import (
    SlackFile,
    check_file,
    check_image_file,
    download_file,
    file_info,
    pick_file,
)
from productshot.slack.messages import channel_list, language_of, say
from productshot.slack.pool import AgentPool, TurnRunner
from productshot.slack.ratelimit import RateLimiter
from productshot.slack.summary import escape, result_comment

logger = logging.getLogger(__name__)

# Message subtypes that are a person saying something; edits, joins, deletions and the like are not.
_USER_SUBTYPES = (None, "file_share", "thread_broadcast")
_REACT_WORKING = "eyes"
_REACT_DONE = "white_check_mark"
_REACT_FAILED = "warning"


@dataclass(frozen=True)
class SlackMessage:
    """A person's message to the bot, from an `app_mention` or `message` event, with the mention removed."""

    event_id: str | None
    channel: str
    channel_type: str  # im, channel, group or mpim
    user: str
    ts: str
    thread_ts: str  # the thread the bot answers in (the message's own ts when it started none)
    in_thread: bool
    text: str
    files: tuple[Mapping[str, Any], ...]
    client_msg_id: str | None
    mentioned: bool

    @property
    def is_dm(self) -> bool:
        return self.channel_type == "im"

    @property
    def conversation(self) -> str:
        """The agent's thread id: one Slack thread is one conversation (follow-ups act on its last shot)."""
        return f"slack-{self.channel}-{self.thread_ts}"

    @property
    def keys(self) -> tuple[str, ...]:
        """What makes this message once-only: the event id, and the message itself (channel + ts,
        client_msg_id), because one message can come as two events (a mention and a thread message)."""
        keys = [f"message:{self.channel}:{self.ts}"]
        if self.event_id:
            keys.insert(0, f"event:{self.event_id}")
        if self.client_msg_id:
            keys.append(f"client_msg:{self.client_msg_id}")
        return tuple(keys)

    @property
    def language(self) -> str:
        return language_of(self.text)


def parse_message(
    event: Mapping[str, Any], *, event_id: str | None, bot_user_id: str | None, via_mention: bool
) -> SlackMessage | None:
    """The message in `event`, or None when it is not a person talking (a bot, an edit, a join ...)."""
    if event.get("bot_id") or event.get("subtype") not in _USER_SUBTYPES:
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if (
        not (isinstance(user, str) and isinstance(channel, str) and isinstance(ts, str))
        or user == bot_user_id
    ):
        return None
    raw_text = str(event.get("text") or "")
    mention = re.compile(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>") if bot_user_id else None
    mentioned = via_mention or bool(mention and mention.search(raw_text))
    text = mention.sub(" ", raw_text) if mention else raw_text
    files = tuple(item for item in event.get("files") or () if isinstance(item, Mapping))
    thread_ts = event.get("thread_ts")
    return SlackMessage(
        event_id=event_id,
        channel=channel,
        channel_type=str(event.get("channel_type") or _channel_type(channel)),
        user=user,
        ts=ts,
        thread_ts=str(thread_ts or ts),
        in_thread=bool(thread_ts) and thread_ts != ts,
        text=" ".join(text.split()),
        files=files,
        client_msg_id=str(event["client_msg_id"]) if event.get("client_msg_id") else None,
        mentioned=mentioned,
    )


def _channel_type(channel: str) -> str:
    return {"D": "im", "G": "group"}.get(channel[:1], "channel")


class SlackBot:
    """Takes Slack messages from bolt's listeners and runs them on the agent pool (see module doc)."""

    def __init__(
        self,
        *,
        client: WebClient,
        pool: AgentPool[TurnRunner],
        store: EventStore,
        limiter: RateLimiter,
        policy: BotPolicy,
        inbox: Path,
        download_origins: frozenset[str],
    ) -> None:
        if not client.token:
            raise BadRequestError("the Slack client has no bot token (SLACK_BOT_TOKEN)")
        self.client = client
        self.pool = pool
        self.store = store
        self.limiter = limiter
        self.policy = policy
        self.inbox = inbox
        self.download_origins = download_origins

    # ---- bolt's listeners call these ----------------------------------------------------------------------
    def on_event(self, event: Mapping[str, Any], body: Mapping[str, Any], bot_user_id: str | None) -> str:
        """Handle an `app_mention` or `message` event; returns what was decided (for the log)."""
        via_mention = event.get("type") == "app_mention"
        event_id = body.get("event_id") if isinstance(body.get("event_id"), str) else None
        message = parse_message(event, event_id=event_id, bot_user_id=bot_user_id, via_mention=via_mention)
        if message is None:
            return "ignored"
        decision = self.accept(message)
        logger.info(
            "%s event %s in %s (thread %s) from %s: %s",
            event.get("type"),
            event_id,
            message.channel,
            message.thread_ts,
            message.user,
            decision,
        )
        return decision

    def accept(self, message: SlackMessage) -> str:
        """Decide on a message: ignored, duplicate, refused, failed or queued (the job then runs on the pool)."""
        if not self._addressed(message):
            return "ignored"
        job_id = self.store.claim(
            message.keys, channel=message.channel, thread_ts=message.thread_ts, user_id=message.user
        )
        if job_id is None:
            return "duplicate"
        refusal = self._refusal(message)
        if refusal is not None:
            self._post(message, refusal)
            self.store.finish(job_id, "failed", "refused by the admin's limits")
            return "refused"
        self._react(message, _REACT_WORKING)
        try:
            file = self._checked_file(message)
            if (
                file is None
                and self.store.thread_owner(message.channel, message.thread_ts) is None
                and not _asks_for_help(message.text)
            ):
                self._post(message, say("no_image", message.language))
                self.store.finish(job_id, "failed", "no image and no earlier shot in the thread")
                return "no_image"
            future = self.pool.submit(
                functools.partial(self._work, message=message, job_id=job_id, file=file),
                key=message.conversation,
            )
            future.add_done_callback(functools.partial(_log_crash, job_id))
        except Exception as exc:
            self._fail(message, job_id, exc)
            return "failed"
        return "queued"

    def recover(self) -> int:
        """Tell the threads whose requests an earlier run never finished to send them again."""
        jobs = self.store.take_interrupted()
        for job in jobs:
            self._post_to(job.channel, job.thread_ts, say("interrupted", "en"))
        return len(jobs)

    # ---- deciding -------------------------------------------------------------------------------------------
    def _addressed(self, message: SlackMessage) -> bool:
        """A mention, a DM, or (when allowed) a plain reply by the requester in a thread holding a shot."""
        if message.mentioned or message.is_dm:
            return True
        if not (self.policy.follow_ups_without_mention and message.in_thread):
            return False
        return self.store.thread_owner(message.channel, message.thread_ts) == message.user

    def _refusal(self, message: SlackMessage) -> str | None:
        """The notice for a message the admin's limits turn away, or None when it may go ahead."""
        links = {"channels": channel_list(self.policy.channels)}
        if message.is_dm:
            if not self.policy.allow_dms:
                return say("dms_off", message.language, links=links)
        elif self.policy.channels is not None and message.channel not in self.policy.channels:
            return say("channel_not_allowed", message.language, links=links)
        wait_s = self.limiter.check(message.user)
        if wait_s > 0:
            return say(
                "rate_limited",
                message.language,
                {"limit": self.limiter.per_minute, "seconds": max(1, round(wait_s))},
            )
        return None

    def _checked_file(self, message: SlackMessage) -> SlackFile | None:
        """The attached file as files.info describes it, checked for type and size; None without one."""
        chosen = pick_file(message.files)
        if chosen is None:
            return None
        file = file_info(self.client, str(chosen.get("id") or ""))
        check_file(file, self.policy.max_file_bytes)
        return file

    # ---- the job, on the pool's loop --------------------------------------------------------------------------
    async def _work(
        self, runner: TurnRunner, *, message: SlackMessage, job_id: str, file: SlackFile | None
    ) -> None:
        saved: Path | None = None
        try:
            if file is not None:
                saved = await self._fetch(file)
            request = message.text or self.policy.default_request
            result = await runner.run(
                request, thread=message.conversation, image=str(saved) if saved else None
            )
            await self._deliver(runner, message, result)
            await asyncio.to_thread(self._react, message, _REACT_DONE)
            await asyncio.to_thread(self.store.finish, job_id, "done", result.asset_id or "reply only")
        except asyncio.CancelledError:
            await asyncio.to_thread(self._interrupted, message, job_id)
            raise
        except Exception as exc:
            await asyncio.to_thread(self._fail, message, job_id, exc)
        finally:
            if saved is not None:
                saved.unlink(missing_ok=True)

    async def _fetch(self, file: SlackFile) -> Path:
        """Download the photo with the bot token and make sure it decodes (the file is the caller's to delete)."""
        saved = await asyncio.to_thread(
            download_file,
            file,
            token=str(self.client.token),
            folder=self.inbox,
            max_bytes=self.policy.max_file_bytes,
            origins=self.download_origins,
        )
        try:
            await asyncio.to_thread(check_image_file, saved, file, self.policy.max_image_pixels)
        except BaseException:
            saved.unlink(missing_ok=True)
            raise
        return saved

    async def _deliver(self, runner: TurnRunner, message: SlackMessage, result: TurnResult) -> None:
        """Upload the shot into the thread with the reply and the step line (or post the reply alone)."""
        if result.asset_id is None:
            await asyncio.to_thread(self._post, message, escape(result.reply))
            return
        data = await runner.read_asset(result.asset_id)
        first = await asyncio.to_thread(self.store.thread_owner, message.channel, message.thread_ts)
        # The agent's thread holds a shot now, whatever the upload does: follow-ups may act on it.
        await asyncio.to_thread(self.store.remember_thread, message.channel, message.thread_ts, message.user)
        comment = result_comment(result, hint=follow_up_hint(result.language) if first is None else None)
        suffix = result.path.suffix if result.path and result.path.suffix else ".png"
        await asyncio.to_thread(
            self._upload, message, data, f"productshot-{result.asset_id}{suffix}", comment
        )

    def _upload(self, message: SlackMessage, data: bytes, filename: str, comment: str) -> None:
        self.client.files_upload_v2(
            channel=message.channel,
            thread_ts=message.thread_ts,
            content=data,
            filename=filename,
            title="Product shot",
            initial_comment=comment,
        )

    # ---- saying things in the thread ---------------------------------------------------------------------------
    def _fail(self, message: SlackMessage, job_id: str, exc: BaseException) -> None:
        """Post what went wrong in the thread, mark the job failed, and log it (with a traceback for bugs)."""
        text = notice_for(exc, message.language, had_file=bool(message.files))
        if isinstance(exc, ProductshotError | SlackClientError):
            logger.warning("job %s in %s/%s failed: %s", job_id, message.channel, message.thread_ts, exc)
        else:
            logger.error("job %s in %s/%s failed", job_id, message.channel, message.thread_ts, exc_info=exc)
        self._post(message, text)
        self._react(message, _REACT_FAILED)
        self.store.finish(job_id, "failed", f"{type(exc).__name__}: {exc}")

    def _interrupted(self, message: SlackMessage, job_id: str) -> None:
        self._post(message, say("interrupted", message.language))
        self.store.finish(job_id, "interrupted", "the bot stopped mid-request")

    def _post(self, message: SlackMessage, text: str) -> None:
        self._post_to(message.channel, message.thread_ts, text)

    def _post_to(self, channel: str, thread_ts: str, text: str) -> None:
        try:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        except (SlackApiError, OSError) as exc:
            logger.error("could not post in %s/%s: %s (the message was: %s)", channel, thread_ts, exc, text)

    def _react(self, message: SlackMessage, name: str) -> None:
        try:
            self.client.reactions_add(channel=message.channel, timestamp=message.ts, name=name)
        except SlackApiError as exc:
            if slack_error(exc) != "already_reacted":
                logger.warning("could not react :%s: in %s: %s", name, message.channel, exc)
        except OSError as exc:
            logger.warning("could not react :%s: in %s: %s", name, message.channel, exc)


def _log_crash(job_id: str, future: concurrent.futures.Future[None]) -> None:
    """A job reports its own failures in its thread; what escapes even that (a bug) is logged here."""
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        logger.error("job %s crashed while reporting its outcome", job_id, exc_info=error)


def notice_for(exc: BaseException, language: str, *, had_file: bool) -> str:
    """The thread message for a failure: what went wrong in words a seller can act on."""
    reason = str(exc)
    if isinstance(exc, BadImageError):
        return say("bad_file" if had_file else "no_image", language, {"reason": reason})
    if isinstance(exc, FileDownloadError):
        return say("download_failed", language, {"reason": reason})
    if isinstance(exc, BotBusyError):
        return say("busy", language, {"reason": reason})
    if isinstance(exc, WorkerUnavailableError | ToolServerError | JobTimeoutError | BotStoppedError):
        return say("service_down", language, {"reason": reason})
    if isinstance(exc, BadRequestError):
        return say("bad_request", language, {"reason": reason})
    if isinstance(exc, SlackApiError):
        return say("upload_failed", language, {"reason": slack_error(exc)})
    if isinstance(exc, SlackClientError):
        return say("upload_failed", language, {"reason": reason})
    if isinstance(exc, ProductshotError):
        return say("failed", language, {"reason": reason})
    return say("internal", language, {"reason": type(exc).__name__})


__all__ = ["SlackBot", "SlackMessage", "notice_for", "parse_message"]


def _asks_for_help(text: str) -> bool:
    """ "what can you do?" / "뭐 할 수 있어?": answered with help, no photo needed."""
    from productshot.errors import BadRequestError
    from productshot.tools.plan import asks_for_help

    try:
        return asks_for_help(text)
    except BadRequestError:
        return False  # an empty or over-long message: the usual path says what is wrong
