"""An independent browser-like client of `liveplane relay` (/device-logs),
on Debian's python3-websockets: the token travels in Sec-WebSocket-Protocol
as browsers must send it, with an Origin header. It checks the refusal
without a token, the selected subprotocol (never the token), the hello, and
then that LINES lines arrive each once and in order (prev = the seq before),
whatever notices the relay sends about its upstream. It prints "ready"
after the hello and a JSON summary at the end; the Go test drives the
uplinks and drops the relay's upstream meanwhile."""

import asyncio
import json
import os
import sys

import websockets

URL = os.environ["RELAY_URL"].replace("http://", "ws://") + "/device-logs?deviceId=" + os.environ["DEVICE"]
KEY = os.environ["KEY"]
ORIGIN = os.environ["ORIGIN"]
LINES = int(os.environ["LINES"])


async def main():
    try:
        async with websockets.connect(URL, subprotocols=["liveplane.v1"], extra_headers={"Origin": ORIGIN}):
            sys.exit("connected without a token")
    except websockets.exceptions.InvalidStatusCode as e:
        assert e.status_code == 401, e.status_code

    async with websockets.connect(URL, subprotocols=["liveplane.v1", "bearer." + KEY],
                                  extra_headers={"Origin": ORIGIN}) as ws:
        assert ws.subprotocol == "liveplane.v1", ws.subprotocol
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and "seq" not in hello, hello
        print("ready", flush=True)
        last, got, notices = hello["lastSeq"], 0, []
        while got < LINES:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if "seq" in frame:
                assert frame["prev"] == last, f"line {frame['seq']} prev {frame['prev']} after {last}"
                assert frame["seq"] > last
                last, got = frame["seq"], got + 1
            else:
                notices.append(frame["type"])
        print(json.dumps({"lines": got, "notices": notices}), flush=True)


asyncio.run(main())
