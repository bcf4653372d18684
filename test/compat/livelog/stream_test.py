"""An independent client of liveplane's live-log stream (GET /ws, see
docs/live-logs.md) on Debian's python3-websockets, plus RFC 6455 negative
cases spoken byte by byte over a plain TCP socket.

    LIVEPLANE_WS_ADDR=127.0.0.1:8080 LIVEPLANE_TOKEN=lpk_... \
    LIVEPLANE_DEVICE=<id with >= 3 lines> LIVEPLANE_OTHER_DEVICE=<another account's device> \
        /usr/bin/python3 -m unittest -v stream_test.py
"""

import asyncio
import base64
import json
import os
import socket
import struct
import unittest

import websockets

ADDR = os.environ["LIVEPLANE_WS_ADDR"]
TOKEN = os.environ["LIVEPLANE_TOKEN"]
DEVICE = os.environ["LIVEPLANE_DEVICE"]
OTHER = os.environ["LIVEPLANE_OTHER_DEVICE"]


def url(query):
    return f"ws://{ADDR}/ws?{query}"


async def frames(ws, n):
    return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(n)]


class Stream(unittest.IsolatedAsyncioTestCase):
    async def test_subprotocol_token_history_and_resume(self):
        async with websockets.connect(url(f"deviceId={DEVICE}&last=3"),
                                      subprotocols=["liveplane.v1", f"bearer.{TOKEN}"]) as ws:
            self.assertEqual(ws.subprotocol, "liveplane.v1")
            hello, *lines = await frames(ws, 4)
        self.assertEqual(hello["type"], "hello")
        self.assertTrue(hello["recovered"])
        self.assertEqual(hello["deviceId"], DEVICE)
        prev = hello["lastSeq"]
        for line in lines:
            self.assertEqual(line["deviceId"], DEVICE)
            self.assertEqual(line["epoch"], hello["epoch"])
            self.assertEqual(line["prev"], prev)
            self.assertGreater(line["seq"], prev)
            for k in ("timestamp", "type", "message", "data"):
                self.assertIn(k, line)
            prev = line["seq"]

        # Resume after the first of them: exactly the two others, recovered.
        q = f"deviceId={DEVICE}&seq={lines[0]['seq']}&epoch={hello['epoch']}"
        async with websockets.connect(url(q), extra_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            again, l2, l3 = await frames(ws, 3)
        self.assertTrue(again["recovered"])
        self.assertEqual(again["lastSeq"], lines[0]["seq"])
        self.assertEqual([l2["seq"], l3["seq"]], [lines[1]["seq"], lines[2]["seq"]])

        # An epoch that is not the current one: said so explicitly.
        q = f"deviceId={DEVICE}&seq={lines[0]['seq']}&epoch=0"
        async with websockets.connect(url(q), extra_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            (hello2,) = await frames(ws, 1)
        self.assertFalse(hello2["recovered"])
        self.assertEqual(hello2["reason"], "epoch")

    async def test_refusals(self):
        cases = [
            (f"deviceId={DEVICE}", {}, 401),
            (f"deviceId={DEVICE}", {"Authorization": "Bearer lpk_wrong"}, 401),
            (f"deviceId={DEVICE}&token={TOKEN}", {}, 400),
            (f"deviceId={OTHER}", {"Authorization": f"Bearer {TOKEN}"}, 403),
            ("deviceId=0190a6f0-0000-7000-8000-000000000000", {"Authorization": f"Bearer {TOKEN}"}, 404),
            (f"deviceId={DEVICE}", {"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"}, 403),
        ]
        for query, headers, status in cases:
            with self.subTest(query=query, headers=headers):
                with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                    async with websockets.connect(url(query), extra_headers=headers):
                        pass
                self.assertEqual(cm.exception.status_code, status)

    async def test_client_messages_close_with_rfc6455_codes(self):
        cases = [(b"\x01\x02", 1003), ("hello", 1003), ("x" * 5000, 1009)]
        for msg, code in cases:
            with self.subTest(code=code, kind=type(msg).__name__):
                async with websockets.connect(url(f"deviceId={DEVICE}"), max_size=None,
                                              extra_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
                    await frames(ws, 1)
                    await ws.send(msg)
                    with self.assertRaises(websockets.exceptions.ConnectionClosed):
                        while True:
                            await asyncio.wait_for(ws.recv(), 5)
                    self.assertEqual(ws.close_code, code)


class RawSocket(unittest.TestCase):
    """RFC 6455 cases a conforming library refuses to send."""

    def handshake(self):
        s = socket.create_connection(ADDR.rsplit(":", 1), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /ws?deviceId={DEVICE} HTTP/1.1\r\nHost: {ADDR}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   f"Authorization: Bearer {TOKEN}\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, rest = buf.split(b"\r\n\r\n", 1)
        self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
        return s, rest

    def read_frames(self, s, buf):
        """Frames until the server closes; returns [(opcode, payload)]."""
        out = []
        while True:
            while True:
                if len(buf) >= 2:
                    n = buf[1] & 0x7F
                    off = 2
                    if n == 126:
                        n, off = struct.unpack(">H", buf[2:4])[0], 4
                    elif n == 127:
                        n, off = struct.unpack(">Q", buf[2:10])[0], 10
                    if len(buf) >= off + n:
                        self.assertEqual(buf[1] & 0x80, 0, "server frames are never masked")
                        out.append((buf[0] & 0x0F, buf[off:off + n]))
                        buf = buf[off + n:]
                        if out[-1][0] == 8:
                            return out
                        continue
                break
            chunk = s.recv(65536)
            if not chunk:
                return out
            buf += chunk

    def masked(self, opcode, payload):
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert len(payload) < 126
        return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body

    def close_code(self, frames):
        self.assertTrue(frames and frames[-1][0] == 8, frames)
        return struct.unpack(">H", frames[-1][1][:2])[0]

    def test_unmasked_client_frame_is_a_protocol_error(self):
        s, buf = self.handshake()
        with s:
            s.sendall(b"\x81\x05hello")  # FIN + text, no mask bit
            self.assertEqual(self.close_code(self.read_frames(s, buf)), 1002)

    def test_invalid_utf8_text(self):
        s, buf = self.handshake()
        with s:
            s.sendall(self.masked(1, b"ok \xff\xfe"))
            self.assertEqual(self.close_code(self.read_frames(s, buf)), 1007)

    def test_hello_arrives_unmasked_as_text(self):
        s, buf = self.handshake()
        with s:
            s.sendall(self.masked(8, struct.pack(">H", 1000)))  # our close
            frames = self.read_frames(s, buf)
            self.assertEqual(frames[0][0], 1)
            self.assertEqual(json.loads(frames[0][1])["type"], "hello")
            self.assertEqual(self.close_code(frames), 1000)


if __name__ == "__main__":
    unittest.main()
