"""Outbound delivery: the one engine for everything trackstream sends out by HTTP.

A *destination* (``outbound_destinations``) is a URL with its signing secrets and its health; a
*message* (``outbound_messages``) is a JSON body for one destination with an ordering key (the
shipment) and a dedup identity (event id, type). Features put messages in the queue inside their
own transaction (``store.enqueue``); the dispatcher (``dispatcher.Dispatcher``, in every worker and
in ``trackstream deliver``) delivers them: Standard Webhooks signatures (``signing``), one message
at a time per (destination, ordering key), retries with exponential backoff and full jitter over a
window of days (``policy``), auto-pause of a destination that keeps failing, an attempt log, replay,
and targets checked against private networks at registration and at connection (``guard``).

Webhook subscriptions (``subscriptions``) are its first user; alert channels and commerce/OMS
pushes add a destination ``kind`` and call ``store.enqueue``.
"""
