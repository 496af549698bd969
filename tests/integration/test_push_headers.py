"""Headers an adapter reads reach it through the real ingress, and nothing else does.

MyParcel says in ``X-MyParcel-Hook`` which hook a push is for; only ``shipment_status_change``
carries tracking. The ingress keeps exactly the headers the adapter declares (``HEADERS``) in the
raw record, so the filter works in the pipeline and the credential never reaches the broker.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import aiohttp
import orjson

from tests.conftest import System, samples_dir
from tests.integration.test_pipeline import shipment
from tests.support import eventually, raw_payloads

AUTH = base64.b64encode(b"test-myparcel-key").decode()


def _notification(barcode: str, shipment_id: int) -> bytes:
    body = orjson.loads((samples_dir() / "myparcel" /
                         "webhook-shipment_status_change-notification-doc-example.json").read_bytes())
    body["data"]["hooks"][0].update({"barcode": barcode, "shipment_id": shipment_id, "status": 3})
    return orjson.dumps(body)


async def test_myparcel_hook_header_filters_pushes_end_to_end(system: System, http: aiohttp.ClientSession) -> None:
    label_only = "3SLBL" + uuid.uuid4().hex[:10].upper()
    status_change = "3SSTC" + uuid.uuid4().hex[:10].upper()
    # a label-created push first: MyParcel sends the same body shape for other hooks
    async with http.post("/v1/webhooks/myparcel", data=_notification(label_only, 901),
                         headers={"X-MyParcel-Authorization": AUTH, "X-MyParcel-Hook": "shipment_label_created",
                                  "X-MyParcel-HookId": "hook-label", "X-Unrelated": "dropped"}) as resp:
        assert resp.status == 202, await resp.text()
    async with http.post("/v1/webhooks/myparcel", data=_notification(status_change, 902),
                         headers={"X-MyParcel-Authorization": AUTH, "X-MyParcel-Hook": "shipment_status_change",
                                  "X-MyParcel-HookId": "hook-42"}) as resp:
        assert resp.status == 202, await resp.text()

    async def stored() -> Any:
        return await shipment(http, "myparcel", status_change)

    result = await eventually(stored, what="the status-change push")
    assert result["status"] == "in_transit"
    with system.db() as db:
        (attributes,) = db.execute("SELECT attributes FROM tracking_events WHERE shipment_key = %s",
                                   (f"myparcel:{status_change}",)).fetchone() or (None,)
    assert isinstance(attributes, dict) and attributes["hook_id"] == "hook-42"  # the header reached the parser
    await asyncio.sleep(3)  # the label push went in first, through the same pipeline
    assert await shipment(http, "myparcel", label_only) is None

    (item,) = await raw_payloads(system.settings, "myparcel", label_only.encode())
    record = item.headers
    assert record["x-myparcel-hook"] == "shipment_label_created"
    assert record["x-myparcel-hookid"] == "hook-label"
    assert record["source"] == "webhook"
    assert "x-myparcel-authorization" not in record  # a credential never reaches the broker
    assert "x-unrelated" not in record
