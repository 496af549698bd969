"""DPD Netherlands: SOAP ``ParcelLifeCycleService`` v2.0 ``getTrackingData``, one parcel per call,
authenticated with a ``LoginService.getAuth`` token.

Endpoints (DPD's shipper web service, SOAP 1.1, ``Content-Type: text/xml; charset=utf-8`` and a
``SOAPAction`` header; paths and actions as karrio's DPD connector uses them,
``modules/connectors/dpd/karrio/mappers/dpd/proxy.py`` and ``providers/dpd/utils.py``):

* ``POST {base}/soap/services/LoginService/V2_1``, ``getAuth(delisId, password, messageLanguage)``
  (namespace ``http://dpd.com/common/service/types/LoginService/2.1``) → ``getAuthResponse/return``
  with ``authToken`` and ``authTokenExpires`` (``YYYY-MM-DDTHH:MM:SS[.fff]``, no offset: read as
  Europe/Amsterdam; when absent, 24 hours, the lifetime shipcore-nl/dpddis-api-php assumes).
* ``POST {base}/soap/services/ParcelLifeCycleService/V2_0``, ``getTrackingData(parcelLabelNumber)``
  (namespace ``.../ParcelLifeCycleService/2.0``) with the SOAP header ``authentication``
  (namespace ``http://dpd.com/common/service/types/Authentication/2.0``: ``delisId``,
  ``authToken``, ``messageLanguage``), as in ``samples/dpd_nl/parcellifecycle-getTrackingData-request.xml``.

Credentials (accounts file): ``delis_id``, ``password``; optional ``message_language`` (default
``en_EN``). Base URL: ``https://wsshipper.dpd.nl`` (test: ``https://shipperadmintest.dpd.nl/PublicApi``).

The token is cached and renewed ``TOKEN_LEEWAY`` seconds before it expires (karrio renews 30 minutes
early), and once more, with the call repeated, when DPD answers a call with an authentication fault
(its tokens can be revoked early, e.g. by a login elsewhere with the same DELIS id). Logins do not
take tokens from the account's bucket (like OAuth token requests in ``pollers.http``).

Faults. SOAP 1.1 sends faults as HTTP 500 with a ``soap:Fault`` body, which ``CarrierHttp`` would
treat as a transient 5xx and retry blindly; this client asks it to return 500s (``ok=(200, 500)``)
and reads the fault itself (``read_fault``):

* an authentication fault (``authenticationFault`` detail, ``DELICOM_ERR_AUTHENTICATION``, see
  ``samples/dpd_nl/parcellifecycle-fault-response.xml``): log in again and repeat the call once;
  when the fresh token is refused too, or ``getAuth`` itself is refused, ``AuthError``;
* a "parcel not found" fault (its code or text says not found / no data, the same markers the
  adapter ``carriers/dpd_nl.py`` reads as ``not_found``): returned untouched, so the service
  classifies it as not found and does not publish it (DPD publishes no sample of this fault; an
  unknown parcel may also come back as a ``trackingresult`` without reached status, which the
  adapter reads as not found as well);
* any other fault, or a 500 without a SOAP fault: a server error, retried with the account's
  backoff (full jitter) and then ``TransientError``.

A 404 from a SOAP endpoint means a wrong URL, not an unknown parcel: ``RequestRejected``.

DPD does not echo the parcel number (``trackingresult`` has only ``shipmentInfo`` and
``statusInfo``): every response carries it in ``TRACKING_NUMBER_HEADER``, as the adapter requires.

Rate: DPD publishes no request limit for the shipper web service; the default of 5 requests per
second per account is a conservative choice (override with ``rate_limit``). One parcel per call
(``getTrackingData`` takes a single ``parcelLabelNumber``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from carriers._util import descendants, load_xml, local
from carriers.base import PayloadError
from pollers.accounts import Account, RateLimit
from pollers.backoff import full_jitter
from pollers.clients.base import CarrierClient, Fetched, Target, answer
from pollers.http import AuthError, CarrierHttp, RequestRejected, Response, TransientError

log = logging.getLogger(__name__)

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
LOGIN_NS = "http://dpd.com/common/service/types/LoginService/2.1"
AUTH_NS = "http://dpd.com/common/service/types/Authentication/2.0"
TRACKING_NS = "http://dpd.com/common/service/types/ParcelLifeCycleService/2.0"
LOGIN_PATH = "/soap/services/LoginService/V2_1"
TRACKING_PATH = "/soap/services/ParcelLifeCycleService/V2_0"
LOGIN_ACTION = f"{LOGIN_NS}/getAuth"
TRACKING_ACTION = f"{TRACKING_NS}/getTrackingData"
TOKEN_LIFETIME = 24 * 3600.0  # when getAuth does not say
TOKEN_LEEWAY = 1800.0
_NL = ZoneInfo("Europe/Amsterdam")
#: Fault texts that mean "DPD does not know this parcel" (kept in step with carriers/dpd_nl.py).
NOT_FOUND_MARKERS = ("not_found", "notfound", "not found", "unknown parcel", "no data", "no tracking")


@dataclass(frozen=True)
class SoapFault:
    code: str
    message: str
    kind: str  # auth | not_found | server

    def __str__(self) -> str:
        return f"DPD fault {self.code}: {self.message}".strip()


def _first(root: ET.Element, names: tuple[str, ...]) -> str:
    """Text of the first non-empty descendant with one of these local names, in that order."""
    for name in names:
        for node in descendants(root, name):
            value = "".join(node.itertext()).strip()
            if value:
                return value
    return ""


def read_fault(body: bytes) -> SoapFault | None:
    """The SOAP fault in ``body`` and what kind it is; None when the body holds no fault."""
    try:
        root = load_xml(body)
    except PayloadError:
        return None
    faults = descendants(root, "Fault")
    if not faults:
        return None
    fault = faults[0]
    code = _first(fault, ("errorCode", "faultcode"))
    message = _first(fault, ("errorMessage", "faultstring")) or "SOAP fault"
    text = f"{code} {message}".lower()
    if any(local(node.tag) == "authenticationFault" for node in fault.iter()) or "authentication" in text:
        kind = "auth"
    elif any(marker in text for marker in NOT_FOUND_MARKERS):
        kind = "not_found"
    else:
        kind = "server"
    return SoapFault(code, message, kind)


def token_expiry(text: str, now: datetime) -> float:
    """Seconds from ``now`` until ``authTokenExpires`` (no offset: Europe/Amsterdam wall time);
    ``TOKEN_LIFETIME`` when absent or unreadable."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return TOKEN_LIFETIME
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_NL)
    return max(0.0, (moment - now).total_seconds())


def login_envelope(delis_id: str, password: str, language: str) -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:ns="{LOGIN_NS}">'
        "<soapenv:Header/><soapenv:Body><ns:getAuth>"
        f"<delisId>{escape(delis_id)}</delisId><password>{escape(password)}</password>"
        f"<messageLanguage>{escape(language)}</messageLanguage>"
        "</ns:getAuth></soapenv:Body></soapenv:Envelope>"
    ).encode()


def tracking_envelope(delis_id: str, token: str, language: str, parcel: str) -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:ns="{AUTH_NS}" xmlns:ns1="{TRACKING_NS}">'
        "<soapenv:Header><ns:authentication>"
        f"<delisId>{escape(delis_id)}</delisId><authToken>{escape(token)}</authToken>"
        f"<messageLanguage>{escape(language)}</messageLanguage>"
        "</ns:authentication></soapenv:Header>"
        f"<soapenv:Body><ns1:getTrackingData><parcelLabelNumber>{escape(parcel)}</parcelLabelNumber>"
        "</ns1:getTrackingData></soapenv:Body></soapenv:Envelope>"
    ).encode()


class DPDNLClient(CarrierClient):
    carrier = "dpd_nl"
    default_base_url = "https://wsshipper.dpd.nl"
    default_rate = RateLimit(5, 1)  # unpublished; conservative
    required_credentials = ("delis_id", "password")

    def __init__(self, account: Account, http: CarrierHttp, *, leeway: float = TOKEN_LEEWAY) -> None:
        super().__init__(account, http)
        self.delis_id = account.credential("delis_id")
        self.language = account.credentials.get("message_language") or "en_EN"
        self.leeway = leeway
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self._rng = random.Random()
        self.logins = 0  # getAuth calls that returned a token

    # --- transport ---------------------------------------------------------------------------------
    async def _post(self, path: str, action: str, envelope: bytes, *,
                    metered: bool = True) -> tuple[Response, SoapFault | None]:
        """POST a SOAP request: a 200, or a 500 carrying an auth / not-found fault (returned with it).
        Server faults and 500s without a fault are retried with backoff, then ``TransientError``.
        ``metered=False`` (logins) skips the token bucket, as for OAuth token endpoints."""
        url = f"{self.base_url}{path}"
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"',
                   "Accept": "text/xml"}
        policy = self.http.retry
        problem = ""
        for attempt in range(policy.attempts):
            resp = await self.http.request("POST", url, ok=(200, 500), metered=metered, data=envelope,
                                           headers=headers)
            if resp.status == 404:
                raise RequestRejected(f"POST {url}: HTTP 404 (no SOAP service at this address)")
            if resp.status == 200:
                return resp, None
            fault = read_fault(resp.body)
            if fault is not None and fault.kind != "server":
                return resp, fault
            problem = str(fault) if fault is not None else "HTTP 500 without a SOAP fault"
            log.info("%s/%s: %s (attempt %d)", self.carrier, self.account.name, problem, attempt + 1)
            if attempt + 1 < policy.attempts:
                await asyncio.sleep(full_jitter(attempt, policy.base, policy.cap, self._rng))
        raise TransientError(f"POST {url}: {problem}")

    # --- authentication ----------------------------------------------------------------------------
    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> str:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._token is not None and loop.time() < self._renew_at:
                return self._token
            envelope = login_envelope(self.delis_id, self.account.credential("password"), self.language)
            resp, fault = await self._post(LOGIN_PATH, LOGIN_ACTION, envelope, metered=False)
            if fault is not None:
                raise AuthError(f"DPD getAuth refused: {fault}")
            try:
                root = load_xml(resp.body)
            except PayloadError as exc:
                raise AuthError(f"DPD getAuth answered unreadable XML: {exc}") from exc
            token = _first(root, ("authToken",))
            if not token:
                raise AuthError("DPD getAuth answered without an authToken")
            lifetime = max(0.0, token_expiry(_first(root, ("authTokenExpires",)), datetime.now(UTC)))
            self._token = token
            # renew ``leeway`` early, but never more than half the token's life early: a short-lived
            # token would otherwise never count as cached and every call would log in again
            self._renew_at = loop.time() + lifetime - min(self.leeway, lifetime / 2)
            self.logins += 1
            return token

    # --- tracking ----------------------------------------------------------------------------------
    async def fetch(self, targets: Sequence[Target]) -> list[Fetched]:
        return [await self._track(target.tracking_number) for target in targets]

    async def _track(self, number: str) -> Fetched:
        for attempt in range(2):
            token = await self.token()
            envelope = tracking_envelope(self.delis_id, token, self.language, number)
            resp, fault = await self._post(TRACKING_PATH, TRACKING_ACTION, envelope)
            if fault is not None and fault.kind == "auth":
                if attempt == 0:
                    log.info("%s/%s: token refused (%s); logging in again", self.carrier, self.account.name,
                             fault)
                    self.invalidate()
                    continue
                raise AuthError(f"DPD refused a fresh token: {fault}")
            return answer(resp, (number,), default_type="text/xml")
        raise AssertionError("unreachable")
