"""File feeds: carrier payload files, JSON lines and CSV into the raw carrier topics.

Shared by ``trackstream import`` (``trackstream.feeds.cli``) and ``POST /v1/feeds/{carrier}``
(``api.feeds``):

- ``formats``: which format a file or body is in, and where a carrier's feed goes (``Target``);
- ``read``: streaming readers that validate every line or row and build the Kafka messages;
- ``send``: an ``acks=all`` idempotent producer that awaits every acknowledgement;
- ``progress``: the terminal progress bar of the command.
"""
