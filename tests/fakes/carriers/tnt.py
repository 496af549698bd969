"""TNT ExpressConnect Tracking 3.1: ``POST /ectrack/track``, form field ``xml_in`` holding a
``TrackRequest``, HTTP Basic auth; one ``TrackResponse`` for every number asked.

As in ``samples/tnt/``: an unknown number is a ``Consignment`` with ``SummaryCode`` ``CNF``; wrong
credentials are the ``<Error><Code>9000</Code>`` body (HTTP 200: ExpressConnect reports errors in the
XML). State: ``state(api)`` (``api.state["tnt"]``: user and password accepted, the numbers of each
request in order); ``api.responses[("tnt", number)]`` is that number's ``<Consignment>`` element(s)
(build them with ``consignment``).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi

AUTH_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?>\n<TrackResponse>\n    <Error>\n        <Code>9000</Code>\n'
              b"        <Message><![CDATA[Unauthorized Access]]></Message>\n    </Error>\n</TrackResponse>\n")


@dataclass
class TNTState:
    username: str = "tnt-user"
    password: str = "tnt-password"
    batches: list[list[str]] = field(default_factory=list)  # consignment numbers of each request
    criteria: list[dict[str, str]] = field(default_factory=list)  # SearchCriteria attributes of each request


def state(api: FakeCarrierApi) -> TNTState:
    with api.lock:
        found = api.state.setdefault("tnt", TNTState())
    assert isinstance(found, TNTState)
    return found


def consignment(number: str, events: list[tuple[str, str, str, str, str]], *, summary: str = "INT",
                origin: tuple[str, str] = ("QAR", "NL"), collected: str = "20261120") -> bytes:
    """A ``Consignment`` with ``StatusData`` events (code, description, YYYYMMDD, HHMM, depot),
    newest first as TNT sends them."""
    status = "".join(
        f"<StatusData><StatusCode>{escape(code)}</StatusCode>"
        f"<StatusDescription><![CDATA[{text}]]></StatusDescription>"
        f'<LocalEventDate format="YYYYMMDD">{day}</LocalEventDate>'
        f'<LocalEventTime format="HHMM">{hhmm}</LocalEventTime>'
        f"<Depot>{escape(depot)}</Depot><DepotName><![CDATA[{depot}]]></DepotName></StatusData>"
        for code, text, day, hhmm, depot in events)
    return (
        f'<Consignment access="full"><ConsignmentNumber>{escape(number)}</ConsignmentNumber>'
        f"<OriginDepot>{origin[0]}</OriginDepot><CollectionDate format=\"YYYYMMDD\">{collected}</CollectionDate>"
        f"<SummaryCode>{summary}</SummaryCode>"
        f"<DestinationCountry><CountryCode>NL</CountryCode></DestinationCountry>"
        f"<OriginCountry><CountryCode>{origin[1]}</CountryCode></OriginCountry>"
        f"<PieceQuantity>1</PieceQuantity>{status}</Consignment>"
    ).encode()


def _not_found(number: str) -> bytes:
    return (f'<Consignment access="public"><ConsignmentNumber>{escape(number)}</ConsignmentNumber>'
            "<SummaryCode>CNF</SummaryCode></Consignment>").encode()


def install(api: FakeCarrierApi, app: web.Application) -> None:
    st = state(api)

    async def track(request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{st.username}:{st.password}".encode()).decode()
        if request.content_type != "application/x-www-form-urlencoded":
            api.record("tnt", request, None, 415)
            return web.Response(status=415, text="form post expected")
        form = await request.post()
        raw = form.get("xml_in")
        try:
            root = ET.fromstring(raw) if isinstance(raw, str) else None
        except ET.ParseError:
            root = None
        if root is None or root.tag != "TrackRequest" or root.get("version") != "3.1":
            api.record("tnt", request, None, 200)
            return web.Response(body=b"<parse_error><error_reason>Invalid TrackRequest</error_reason></parse_error>",
                                content_type="text/xml")
        criteria = root.find("SearchCriteria")
        numbers = [(n.text or "").strip() for n in root.iter("ConsignmentNumber")]
        with api.lock:
            st.batches.append(numbers)
            st.criteria.append(dict(criteria.attrib) if criteria is not None else {})
        label = ",".join(numbers)
        if request.headers.get("Authorization") != expected:
            api.record("tnt", request, label, 200)
            return web.Response(body=AUTH_ERROR, content_type="text/xml")
        scripted = await api.scripted("tnt", request, label)
        if scripted is not None:
            return scripted
        parts = []
        with api.lock:
            for number in numbers:
                found = api.responses.get(("tnt", number))
                parts.append(found() if found is not None else _not_found(number))
        api.record("tnt", request, label, 200)
        body = b'<?xml version="1.0" encoding="utf-8"?>\n<TrackResponse>' + b"".join(parts) + b"</TrackResponse>"
        return web.Response(body=body, content_type="text/xml")

    app.router.add_post("/ectrack/track", track)
