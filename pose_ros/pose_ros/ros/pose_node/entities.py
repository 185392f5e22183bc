"""What a node created from a point on, so that a lifecycle transition can take exactly that away again.

*deactivate* undoes *activate* and *cleanup* undoes *configure*. Listing each publisher, timer and
subscription by hand misses the ones a part makes on its own later: an ``input_reliability:=auto``
subscription is re-created by its QoS re-check timer (:class:`~pose_ros.ros.qos.MatchedSubscription`,
whose timer is not exposed). Comparing the node's own entity lists with a snapshot catches them all.
"""

from __future__ import annotations

from typing import Any, Dict, Set

from rclpy.node import Node

# Destroyed in this order: timers first, so no callback creates something new meanwhile.
_KINDS = (("timers", "destroy_timer"), ("subscriptions", "destroy_subscription"),
          ("services", "destroy_service"), ("clients", "destroy_client"), ("publishers", "destroy_publisher"))


class EntityMark:
    """A snapshot of ``node``'s entities; :meth:`destroy` removes every entity made since."""

    def __init__(self, node: Node) -> None:
        self._node = node
        # The entities themselves (compared by identity), not their ids: an id may be reused.
        self._before: Dict[str, Set[Any]] = {kind: set(getattr(node, kind)) for kind, _ in _KINDS}

    def destroy(self) -> int:
        """Destroy what was made since the snapshot; returns how many entities that was."""
        count = 0
        for kind, destroy in _KINDS:
            for entity in [e for e in getattr(self._node, kind) if e not in self._before[kind]]:
                count += bool(getattr(self._node, destroy)(entity))
        return count
