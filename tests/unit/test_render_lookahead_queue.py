"""The render service's look-ahead queue: declared with the topology, like a work queue, but not a stage's."""

from __future__ import annotations

from clipforge.shared.events import PRIORITIES, MediaReady
from clipforge.shared.topology import DELIVERY_LIMIT, Topology


def test_the_look_ahead_queue_takes_media_ready_of_both_priorities_with_dead_lettering() -> None:
    topology = Topology("cfx")
    queue = topology.render_look_queue
    assert queue.name == "cfx.render.look"
    assert queue.arguments["x-queue-type"] == "quorum" and queue.durable
    assert queue.arguments["x-dead-letter-exchange"] == "cfx.dead"
    assert queue.arguments["x-delivery-limit"] == DELIVERY_LIMIT
    assert topology.side_bindings() == [(queue, f"*.{MediaReady.routing_key}")]
    # "*" is one word of the routing key: the priority class, whichever it is.
    assert {f"{priority}.{MediaReady.routing_key}" for priority in PRIORITIES} == {
        f"{priority}.{topology.side_bindings()[0][1].split('.', 1)[1]}" for priority in PRIORITIES
    }
    # Not a stage's input: the stages' work queues (and what alerts and scalers select) are unchanged.
    assert queue.name not in {q.name for q, _ in topology.bindings()}
