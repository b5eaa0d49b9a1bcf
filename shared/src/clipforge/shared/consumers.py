"""What FastStream's subscribers do not tell or do: whether one really consumes, stopping one now.

FastStream 0.7 keeps the aio-pika queue and consumer tag of a started subscriber in private
attributes (``_queue_obj``, ``_consumer_tag``); these helpers are the one place that reads them.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def routing_key_of(message: Any) -> str:
    """The routing key a delivery came with (its original one, also after a delay queue)."""
    raw = getattr(message, "raw_message", None)
    return str(getattr(raw, "routing_key", "") or "")


def consumes(subscriber: Any) -> bool:
    """The subscriber really consumes: started, and its channel and connection are open.

    ``running`` alone stays true when the broker closed the channel (or the connection died and
    was not restored), which is the case a readiness check exists to catch.
    """
    if not subscriber.running:
        return False
    queue = getattr(subscriber, "_queue_obj", None)
    if queue is None or getattr(subscriber, "_consumer_tag", None) is None:
        return False
    channel = queue.channel
    try:
        if channel.is_closed:
            return False
        connection = getattr(channel, "_connection", None)
        if connection is not None and connection.is_closed:
            return False
        # A consumer the broker cancelled (its queue deleted, a node lost) is gone from the
        # underlying channel's consumers until aio-pika restores it under the same tag.
        underlay = getattr(getattr(channel, "_channel", None), "channel", None)
        consumers = getattr(underlay, "consumers", None)
        return consumers is None or subscriber._consumer_tag in consumers
    except Exception:
        return False


async def stop_consuming(subscriber: Any) -> None:
    """Cancel a subscriber's consumer now (no more deliveries) without waiting for its handlers.

    FastStream's own ``stop`` first waits for running handlers (up to its graceful timeout) and
    only then cancels the consumer, so the broker would keep delivering meanwhile.
    """
    queue = getattr(subscriber, "_queue_obj", None)
    tag = getattr(subscriber, "_consumer_tag", None)
    if queue is None or tag is None:
        return
    try:
        if not queue.channel.is_closed:
            await queue.cancel(tag)
    except Exception:
        log.warning("could not cancel consumer %s", tag, exc_info=True)
    subscriber._consumer_tag = None
