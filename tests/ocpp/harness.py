"""What the conformance charge points share: how the test drives them through standard input and how
they report on standard output (see charge_point_16.py for the protocol), and how they connect.

Each charge point class gives `behaviour` (what `set` changes), and may define
`before_call(action, args)` and `after_call(action, result)` to keep its own state in step with the
calls the test makes it send.
"""

import argparse
import asyncio
import base64
import dataclasses
import json
import ssl
import sys
from datetime import datetime, timezone
from decimal import Decimal

import websockets


def as_json(value):
    # The ocpp package reads JSON numbers as Decimal, to keep them exact.
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}, default=as_json), flush=True)


def now():
    return datetime.now(timezone.utc).isoformat()


def plain(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return value


async def drive(point, lines):
    while True:
        line = await lines.readline()
        if not line:
            return
        command = json.loads(line)
        if command["cmd"] == "close":
            return
        if command["cmd"] == "set":
            point.behaviour[command["key"]] = command["value"]
            emit("set", key=command["key"])
            continue
        action = command["action"]
        args = command.get("args", {})
        if hasattr(point, "before_call"):
            point.before_call(action, args)
        try:
            result = await point.send(action, **args)
            if hasattr(point, "after_call"):
                point.after_call(action, result)
            emit("result", action=action, payload=plain(result))
        except Exception as error:  # the test decides what an error means
            emit("call_error", action=action, error=f"{type(error).__name__}: {error}")


async def connect(make_point, subprotocol):
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--password", required=True)
    # TLS (wss://): the CA that signed Coupler's certificate, and the charger's own certificate and
    # key when it presents one (security profile 3).
    parser.add_argument("--cafile")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    options = parser.parse_args()
    token = base64.b64encode(f"{options.id}:{options.password}".encode()).decode()
    tls = None
    if options.url.startswith("wss://"):
        tls = ssl.create_default_context(cafile=options.cafile)
        if options.certfile:
            tls.load_cert_chain(options.certfile, options.keyfile)
    async with websockets.connect(
        options.url,
        subprotocols=[subprotocol],
        additional_headers={"Authorization": f"Basic {token}"},
        open_timeout=10,
        ssl=tls,
    ) as socket:
        emit("connected", subprotocol=socket.subprotocol)
        point = make_point(options.id, socket)
        loop = asyncio.get_running_loop()
        lines = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)
        listening = asyncio.create_task(point.start())
        driving = asyncio.create_task(drive(point, lines))
        done, _ = await asyncio.wait({listening, driving}, return_when=asyncio.FIRST_COMPLETED)
        if listening in done:
            emit("closed", code=socket.close_code, reason=socket.close_reason)
        driving.cancel()
        listening.cancel()


def run(make_point, subprotocol):
    """Connects a charge point made by `make_point(id, socket)` and drives it until the end."""
    try:
        asyncio.run(connect(make_point, subprotocol))
    except websockets.exceptions.InvalidStatus as refused:
        emit("refused", status=refused.response.status_code)
    except (OSError, websockets.exceptions.WebSocketException) as failed:
        # Refused during the TLS handshake (a certificate the server does not trust), or the
        # connection dropped before the WebSocket handshake completed.
        emit("refused", status=None, error=f"{type(failed).__name__}: {failed}")
