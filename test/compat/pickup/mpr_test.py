"""An independent JSON-RPC 2.0 client for liveplane's pickup gateway, on
Debian's python3-websockets: it checks the wire format byte by byte where
the Node suite checks what rpc-websockets makes of it.

    LIVEPLANE_PICKUP_ADDR=127.0.0.1:3100 LIVEPLANE_PICKUP_TOKEN=lpk_... \
        /usr/bin/python3 -m unittest -v mpr_test.py
"""

import asyncio
import itertools
import json
import os
import re
import unittest
import uuid

import websockets

ADDR = os.environ["LIVEPLANE_PICKUP_ADDR"]
TOKEN = os.environ["LIVEPLANE_PICKUP_TOKEN"]
JS_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def payload(i):
    return {"protected": "eyJ", "iv": "aXY", "ciphertext": f"ct-{i}", "tag": "dGFn"}


class Client:
    """Requests with ids, responses matched by id, notifications queued."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting = {}
        self.notes = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, token=TOKEN):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await websockets.connect(f"ws://{ADDR}/", extra_headers=headers, max_size=None)
        return cls(ws)

    async def _read(self):
        async for frame in self.ws:
            msg = json.loads(frame)
            if isinstance(msg, dict) and "id" not in msg:
                await self.notes.put(msg)
                continue
            key = "batch" if isinstance(msg, list) else json.dumps(msg["id"])
            fut = self.waiting.pop(key, None)
            if fut:
                fut.set_result(msg)

    async def send_raw(self, frame, key):
        fut = asyncio.get_running_loop().create_future()
        self.waiting[key] = fut
        await self.ws.send(frame)
        return await asyncio.wait_for(fut, 2.0)

    async def response(self, method, params=None):
        rid = next(self.ids)
        req = {"jsonrpc": "2.0", "method": method, "id": rid}
        if params is not None:
            req["params"] = params
        resp = await self.send_raw(json.dumps(req), json.dumps(rid))
        assert resp["jsonrpc"] == "2.0" and resp["id"] == rid, resp
        assert ("result" in resp) != ("error" in resp), resp
        return resp

    async def call(self, method, params=None):
        resp = await self.response(method, params)
        if "error" in resp:
            raise AssertionError(f"{method}: {resp['error']}")
        return resp["result"]

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


def conn_id(prefix):
    return f"{prefix}-{uuid.uuid4()}"


class PickupGateway(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.c = await Client.open()

    async def asyncTearDown(self):
        await self.c.close()

    async def test_methods_and_results(self):
        c, conn = self.c, conn_id("py")
        self.assertEqual(await c.call("ping"), "pong")
        self.assertEqual(await c.call("rpc.on", ["messagesReceived"]), {"messagesReceived": "ok"})
        ids = []
        for i in range(3):
            res = await c.call("addMessage", {"connectionId": conn, "recipientDids": ["did:r"], "payload": payload(i)})
            self.assertEqual(list(res), ["messageId"])
            ids.append(res["messageId"])
        self.assertEqual(await c.call("getAvailableMessageCount", {"connectionId": conn}), 3)
        taken = await c.call("takeFromQueue", {"connectionId": conn, "limit": 2})
        self.assertEqual([m["id"] for m in taken], ids[:2])
        self.assertEqual(sorted(taken[0]), ["encryptedMessage", "id", "receivedAt"])
        self.assertRegex(taken[0]["receivedAt"], JS_DATE)
        self.assertEqual(taken[0]["encryptedMessage"], payload(0))
        self.assertIs(await c.call("removeMessages", {"connectionId": conn, "messageIds": ids[:2]}), True)
        rest = await c.call("takeFromQueue", {"connectionId": conn, "deleteMessages": True})
        self.assertEqual([m["id"] for m in rest], ids[2:])
        self.assertEqual(await c.call("getAvailableMessageCount", {"connectionId": conn}), 0)
        await c.call("addMessage", {"connectionId": conn, "recipientDids": ["did:x", "did:y"], "payload": payload(5)})
        self.assertEqual(await c.call("getAvailableMessageCount", {"connectionId": conn, "recipientDid": "did:y"}), 1)
        self.assertIs(await c.call("removeAllMessages", {"connectionId": conn, "recipientDid": "did:y"}), True)
        self.assertEqual(await c.call("getAvailableMessageCount", {"connectionId": conn}), 0)
        self.assertIs(await c.call("getLiveSession", {"connectionId": conn}), False)
        self.assertIs(await c.call("addLiveSession", {"connectionId": conn, "sessionId": "s"}), True)
        self.assertIs(await c.call("getLiveSession", {"connectionId": conn}), True)
        self.assertIs(await c.call("removeLiveSession", {"connectionId": conn, "sessionId": "s"}), True)
        self.assertIs(await c.call("removeLiveSession", {"connectionId": conn}), False)

    async def test_notification_to_the_holder(self):
        holder, conn = self.c, conn_id("py-live")
        sender = await Client.open()
        try:
            await holder.call("addLiveSession", {"connectionId": conn, "sessionId": "s1"})
            res = await sender.call("addMessage", {"connectionId": conn, "recipientDids": ["did:r"], "payload": payload(1)})
            note = await asyncio.wait_for(holder.notes.get(), 2.0)
            self.assertEqual(note["jsonrpc"], "2.0")
            self.assertEqual(note["method"], "messagesReceived")
            self.assertEqual(note["params"]["connectionId"], conn)
            self.assertEqual([m["id"] for m in note["params"]["messages"]], [res["messageId"]])
            self.assertTrue(sender.notes.empty())
        finally:
            await sender.close()

    async def test_errors(self):
        c = self.c
        err = (await c.response("nope", {}))["error"]
        self.assertEqual(err["code"], -32601)
        err = (await c.response("addMessage", {"connectionId": "c", "payload": payload(0)}))["error"]
        self.assertEqual(err["code"], -32602)
        self.assertIn("recipientDids", err["message"])
        err = (await c.response("getLiveSession", {"connectionId": 12}))["error"]
        self.assertEqual((err["code"], err["data"]), (-32602, {"field": "connectionId"}))
        resp = await c.send_raw("{not json", "null")
        self.assertEqual(resp["error"]["code"], -32700)
        self.assertIsNone(resp["id"])
        batch = await c.send_raw(json.dumps([
            {"jsonrpc": "2.0", "method": "ping", "id": "a"},
            {"jsonrpc": "2.0", "method": "ping"},
            {"jsonrpc": "2.0", "method": "getAvailableMessageCount", "params": {"connectionId": conn_id("b")}, "id": "b"},
        ]), "batch")
        self.assertEqual(batch, [{"jsonrpc": "2.0", "result": "pong", "id": "a"},
                                 {"jsonrpc": "2.0", "result": 0, "id": "b"}])

    async def test_tokens(self):
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as e:
            await Client.open(token="lpk_not-a-key")
        self.assertEqual(e.exception.status_code, 401)
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as e:
            await Client.open(token="")
        self.assertEqual(e.exception.status_code, 401)


if __name__ == "__main__":
    unittest.main()
