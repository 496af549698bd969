"""The normalized status taxonomy (DESIGN.md) and trackstream's substatus vocabulary.

``Status`` is the one coarse status every event and shipment carries. ``Substatus`` is the finer,
documented vocabulary; a carrier mapping row gives a status and optionally a substatus. The carrier's
own code and text are always kept next to both.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    FAILED_ATTEMPT = "failed_attempt"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


#: Shipment-level only: registered, no carrier event yet.
PENDING = "pending"

#: Statuses after which a shipment normally sees no further carrier activity.
FINAL_STATUSES: frozenset[str] = frozenset(
    {Status.DELIVERED, Status.RETURNED_TO_SENDER, Status.CANCELLED}
)


class Substatus(StrEnum):
    # pre_transit
    LABEL_CREATED = "label_created"
    ANNOUNCED = "announced"
    NOT_COLLECTED = "not_collected"
    # in_transit
    PICKED_UP = "picked_up"
    ACCEPTED = "accepted"
    SORTING = "sorting"
    SORTED = "sorted"
    IN_STORAGE = "in_storage"
    CUSTOMS = "customs"
    CUSTOMS_HOLD = "customs_hold"
    DELAYED = "delayed"
    DELIVERY_CHANGED = "delivery_changed"
    RECIPIENT_CHOICE = "recipient_choice"
    RETURN_FLOW = "return_flow"
    # out_for_delivery
    DRIVER_EN_ROUTE = "driver_en_route"
    # failed_attempt
    RECIPIENT_ABSENT = "recipient_absent"
    RETRY_NEXT_DAY = "retry_next_day"
    # available_for_pickup
    AT_PICKUP_POINT = "at_pickup_point"
    # delivered
    DELIVERED_RECIPIENT = "delivered_recipient"
    DELIVERED_NEIGHBOUR = "delivered_neighbour"
    DELIVERED_MAILBOX = "delivered_mailbox"
    COLLECTED_BY_RECIPIENT = "collected_by_recipient"
    # exception
    ADDRESS_ISSUE = "address_issue"
    DAMAGED = "damaged"
    LOST = "lost"
    REFUSED = "refused"
    MISSING = "missing"
    DATA_ERROR = "data_error"
    ANNOUNCEMENT_FAILED = "announcement_failed"
    PAYMENT_ISSUE = "payment_issue"
    DESTROYED = "destroyed"
    PROHIBITED_CONTENTS = "prohibited_contents"
    UNDELIVERABLE = "undeliverable"
    CANCELLATION_FAILED = "cancellation_failed"
    # returned_to_sender / cancelled
    RETURNING = "returning"
    CANCELLATION_REQUESTED = "cancellation_requested"
    # unknown
    UNMAPPED_CODE = "unmapped_code"


#: Forward order of the "happy path"; used to keep a shipment from moving backwards when two
#: events share one instant. Side states (exception, failed_attempt, ...) get the rank of the point
#: in the journey where they happen.
STATUS_RANK: dict[str, int] = {
    Status.UNKNOWN: 0,
    Status.PRE_TRANSIT: 1,
    Status.IN_TRANSIT: 2,
    Status.EXCEPTION: 3,
    Status.OUT_FOR_DELIVERY: 4,
    Status.FAILED_ATTEMPT: 5,
    Status.AVAILABLE_FOR_PICKUP: 6,
    Status.CANCELLED: 7,
    Status.RETURNED_TO_SENDER: 8,
    Status.DELIVERED: 9,
}

ALL_STATUSES: frozenset[str] = frozenset(s.value for s in Status)
ALL_SUBSTATUSES: frozenset[str] = frozenset(s.value for s in Substatus)
