"""What the Celery broker and workers say: queue depths and the workers online.

Reads from outside the project, each bounded in time: the console must render, with the
reason, when the broker is down or cannot answer (an empty answer is not an error).
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from celery import Celery
from kombu.exceptions import ChannelError

from platform_site.celery import app as celery_app

logger = logging.getLogger(__name__)

# The queues of platform_site: CELERY_TASK_DEFAULT_QUEUE, and the training run's (training/tasks.py).
QUEUES = ("default", "gpu")
BROKER_TIMEOUT_SECONDS = 2.0
INSPECT_TIMEOUT_SECONDS = 1.0
# The console's own connections time out each socket read and connect. `ensure_connection(timeout=)`
# bounds only the retries of connecting: a Redis that accepts and then does not answer (paused,
# failing over, a half-open connection) would otherwise hold the page forever, in the incident when
# on-call opens it. Only these connections: the workers' own keep the transport's defaults.
# Transports without sockets of their own (the filesystem broker) ignore the options.
CONSOLE_TRANSPORT_OPTIONS = {
    "socket_timeout": BROKER_TIMEOUT_SECONDS,
    "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
}


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class QueueDepth:
    name: str
    messages: int | None  # None: the broker could not say (see `reason`)
    reason: str = ""


def queue_depths(*, app: Celery | None = None, queues: tuple[str, ...] = QUEUES) -> list[QueueDepth]:
    """Messages waiting in each queue, as a passive declare reports them (it creates nothing)."""
    app = celery_app if app is None else app
    try:
        with app.connection_for_read(transport_options=CONSOLE_TRANSPORT_OPTIONS) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
            return [_queue_depth(conn, name) for name in queues]
    except Exception as error:  # noqa: BLE001 - whatever the transport raises (kombu, redis-py, OSError): say it
        logger.warning("queue depths unknown: %s", _reason(error))
        return [QueueDepth(name, None, _reason(error)) for name in queues]


def _queue_depth(conn, name: str) -> QueueDepth:
    # A channel per queue: AMQP closes a channel on a failed passive declare.
    channel = conn.channel()
    try:
        return QueueDepth(name, channel.queue_declare(queue=name, passive=True).message_count)
    except ChannelError:
        # Redis deletes an emptied list, and AMQP knows no queue before a worker or a send
        # declared it: either way nothing is waiting in it.
        return QueueDepth(name, 0)
    finally:
        with contextlib.suppress(*conn.connection_errors, *conn.channel_errors):
            channel.close()  # the broker may have closed it already


@dataclass(frozen=True)
class WorkerTask:
    name: str
    kwargs: dict
    started: float | None  # a Unix time, as the worker reports it


@dataclass(frozen=True)
class Worker:
    name: str
    tasks: list[WorkerTask] = field(default_factory=list)


@dataclass(frozen=True)
class WorkersOnline:
    workers: list[Worker]
    reason: str = ""  # why the broker could not be asked; "" when it answered, even with no worker


def workers_online(*, app: Celery | None = None, timeout: float | None = None) -> WorkersOnline:
    """The workers that answered within `timeout`, each with the tasks it is running.

    One broadcast, `active`, answers both questions: every worker that is up replies, idle ones
    with an empty list, so a separate `ping` would only double the wait.
    """
    app = celery_app if app is None else app
    try:
        with app.connection_for_write(transport_options=CONSOLE_TRANSPORT_OPTIONS) as conn:
            # Fail fast when the broker is down: the broadcast's own connection would retry for
            # seconds first, and the page waits on it.
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
            inspect = app.control.inspect(
                timeout=INSPECT_TIMEOUT_SECONDS if timeout is None else timeout, connection=conn
            )
            replies = inspect.active() or {}
    except Exception as error:  # noqa: BLE001 - the broker is down or refused the broadcast: say it
        logger.warning("workers unknown: %s", _reason(error))
        return WorkersOnline([], _reason(error))
    workers = [
        Worker(name, [
            WorkerTask(task.get("name") or task.get("type", ""), task.get("kwargs") or {}, task.get("time_start"))
            for task in (tasks or [])
        ])
        for name, tasks in sorted(replies.items())
    ]
    return WorkersOnline(workers)
