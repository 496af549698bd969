"""DPD NL shipper web service (SOAP 1.1): ``LoginService`` V2_1 ``getAuth`` and
``ParcelLifeCycleService`` V2_0 ``getTrackingData`` with the ``authentication`` SOAP header.

Envelopes and namespaces as in ``samples/dpd_nl/`` (request, response, authentication fault);
faults are HTTP 500 with a ``soap:Fault`` body, as SOAP 1.1 prescribes.

State: ``state(api)`` (``api.state["dpd_nl"]``): the DELIS id and password accepted, the tokens
handed out and their lifetime; ``api.responses[("dpd_nl", parcel)]`` is the ``getTrackingData``
response body (build it with ``tracking_response``); an unknown parcel gets the not-found fault.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.carrier_api import FakeCarrierApi

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
AUTH_NS = "http://dpd.com/common/service/types/Authentication/2.0"
LOGIN_NS = "http://dpd.com/common/service/types/LoginService/2.1"
TRACKING_NS = "http://dpd.com/common/service/types/ParcelLifeCycleService/2.0"
_ENVELOPE = (f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>{body}</soap:Body></soap:Envelope>')


@dataclass
class DPDState:
    delis_id: str = "KD1234"
    password: str = "dpd-password"
    token_ttl: float = 24 * 3600.0
    tokens: dict[str, float] = field(default_factory=dict)  # token -> time.monotonic() it expires
    logins: int = 0  # getAuth calls (right or wrong)

    def revoke(self) -> None:
        self.tokens.clear()


def state(api: FakeCarrierApi) -> DPDState:
    with api.lock:
        found = api.state.setdefault("dpd_nl", DPDState())
    assert isinstance(found, DPDState)
    return found


# --- documented bodies --------------------------------------------------------------------------

def _wrapped(name: str, text: str) -> str:
    return f"<{name}><content>{escape(text)}</content><bold>true</bold><paragraph>false</paragraph></{name}>"


def tracking_response(steps: list[tuple[str, str, str, str]], *, reached: int | None = None,
                      service: str = "DPD CLASSIC") -> bytes:
    """A ``getTrackingDataResponse``: ``steps`` are (status, label, location "City (CC)", date
    ``M/d/yyyy h:mm:ss AM``), oldest first; only the first ``reached`` steps are reached (all by
    default), the last reached one is the current status."""
    reached = len(steps) if reached is None else reached
    infos = []
    for index, (status, label, location, date) in enumerate(steps):
        infos.append(
            f"<statusInfo><status>{escape(status)}</status>{_wrapped('label', label)}"
            f"<description>{_wrapped('content', label)}</description>"
            f"<statusHasBeenReached>{'true' if index < reached else 'false'}</statusHasBeenReached>"
            f"<isCurrentStatus>{'true' if index == reached - 1 else 'false'}</isCurrentStatus>"
            f"<showContactInfo>true</showContactInfo>{_wrapped('location', location)}"
            f"{_wrapped('date', date) if index < reached else ''}</statusInfo>")
    body = (f'<getTrackingDataResponse xmlns="{TRACKING_NS}"><trackingresult><shipmentInfo>'
            f"<serviceDescription><label><content>Your DPD service:</content></label>"
            f"<content><content>{escape(service)}</content></content></serviceDescription>"
            "<status>SHIPMENT</status><statusHasBeenReached>false</statusHasBeenReached>"
            "<isCurrentStatus>false</isCurrentStatus><showContactInfo>false</showContactInfo></shipmentInfo>"
            f"{''.join(infos)}</trackingresult></getTrackingDataResponse>")
    return _ENVELOPE.format(body=body).encode()


def fault(code: str, message: str, *, detail: str = "faultCodeType", namespace: str = AUTH_NS,
          faultstring: str = "Fault occured") -> bytes:
    """A SOAP 1.1 fault with DPD's ``detail/<detail>/{errorCode, errorMessage}``."""
    body = (f"<soap:Fault><faultcode>soap:Server</faultcode><faultstring>{escape(faultstring)}</faultstring>"
            f'<detail><ns:{detail} xmlns:ns="{namespace}"><errorCode>{escape(code)}</errorCode>'
            f"<errorMessage>{escape(message)}</errorMessage></ns:{detail}></detail></soap:Fault>")
    return _ENVELOPE.format(body=body).encode()


AUTH_FAULT = fault("DELICOM_ERR_AUTHENTICATION", "Authentication failure, check delisId and password.",
                   detail="authenticationFault")
NOT_FOUND_FAULT = fault("DELICOM_ERR_PARCEL_NOT_FOUND", "Parcel not found.",
                        namespace="http://dpd.com/common/service/exceptions")
SERVER_FAULT = fault("DELICOM_ERR_SYSTEM", "Internal system error, please try again later.",
                     namespace="http://dpd.com/common/service/exceptions")


def _xml(body: bytes) -> web.Response:
    return web.Response(status=200, body=body, content_type="text/xml", charset="utf-8")


def _fault_response(body: bytes) -> web.Response:
    return web.Response(status=500, body=body, content_type="text/xml", charset="utf-8")


def _find(root: ET.Element, name: str) -> str:
    for node in root.iter():
        if node.tag.rsplit("}", 1)[-1] == name:
            return (node.text or "").strip()
    return ""


def _check_soap(request: web.Request, body: bytes, action: str) -> ET.Element | None:
    """The parsed envelope when the request is a SOAP 1.1 call of ``action``, else None."""
    if request.content_type != "text/xml" or request.headers.get("SOAPAction", "").strip('"') != action:
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    return root if root.tag == f"{{{SOAP}}}Envelope" else None


def install(api: FakeCarrierApi, app: web.Application) -> None:
    st = state(api)
    nl = ZoneInfo("Europe/Amsterdam")

    async def login(request: web.Request) -> web.Response:
        root = _check_soap(request, await request.read(), f"{LOGIN_NS}/getAuth")
        if root is None or not any(n.tag == f"{{{LOGIN_NS}}}getAuth" for n in root.iter()):
            api.record("dpd_nl-login", request, None, 500)
            return _fault_response(fault("CLIENT", "Malformed getAuth request", faultstring="Client"))
        with api.lock:
            st.logins += 1
        scripted = await api.scripted("dpd_nl-login", request, None)
        if scripted is not None:
            return scripted
        if _find(root, "delisId") != st.delis_id or _find(root, "password") != st.password:
            api.record("dpd_nl-login", request, None, 500)
            return _fault_response(AUTH_FAULT)
        token = secrets.token_hex(16)
        with api.lock:
            st.tokens[token] = time.monotonic() + st.token_ttl
        expires = (datetime.now(nl) + timedelta(seconds=st.token_ttl)).replace(tzinfo=None)
        body = (f'<ns2:getAuthResponse xmlns:ns2="{LOGIN_NS}"><return><delisId>{escape(st.delis_id)}</delisId>'
                f"<customerUid>{escape(st.delis_id)}</customerUid><authToken>{token}</authToken>"
                f"<depot>0522</depot><authTokenExpires>{expires.isoformat(timespec='milliseconds')}"
                "</authTokenExpires></return></ns2:getAuthResponse>")
        api.record("dpd_nl-login", request, None, 200)
        return _xml(_ENVELOPE.format(body=body).encode())

    async def tracking(request: web.Request) -> web.Response:
        root = _check_soap(request, await request.read(), f"{TRACKING_NS}/getTrackingData")
        number = _find(root, "parcelLabelNumber") if root is not None else ""
        if root is None or not number:
            api.record("dpd_nl", request, number or None, 500)
            return _fault_response(fault("CLIENT", "Malformed getTrackingData request", faultstring="Client"))
        header = next((n for n in root.iter() if n.tag == f"{{{AUTH_NS}}}authentication"), None)
        with api.lock:
            expiry = st.tokens.get(_find(header, "authToken")) if header is not None else None
        if header is None or _find(header, "delisId") != st.delis_id or expiry is None \
                or expiry <= time.monotonic() or not _find(header, "messageLanguage"):
            api.record("dpd_nl", request, number, 500)
            return _fault_response(AUTH_FAULT)
        scripted = await api.scripted("dpd_nl", request, number)
        if scripted is not None:
            return scripted
        with api.lock:
            found = api.responses.get(("dpd_nl", number))
        if found is None:
            api.record("dpd_nl", request, number, 500)
            return _fault_response(NOT_FOUND_FAULT)
        api.record("dpd_nl", request, number, 200)
        return _xml(found())

    app.router.add_post("/soap/services/LoginService/V2_1", login)
    app.router.add_post("/soap/services/ParcelLifeCycleService/V2_0", tracking)
