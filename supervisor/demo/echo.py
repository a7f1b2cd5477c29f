"""A WebSocket echo at /ws, and at / a small page whose script talks to it.

Open http://127.0.0.1:8000/ in a browser, or: python -m websockets ws://127.0.0.1:8000/ws
"""

from __future__ import annotations

from supervisor._types import Receive, Scope, Send
from supervisor.demo import refuse_websocket, send_plain, serve_lifespan

PAGE = b"""<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>serve: WebSocket echo</title>
<style>body { font: 16px system-ui, sans-serif; margin: 2em; } #log { white-space: pre-wrap; }</style>
<h1>WebSocket echo</h1>
<form id="say"><input id="text" autocomplete="off" autofocus> <button>Send</button></form>
<p id="log"></p>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
socket.onopen = () => log("connected");
socket.onmessage = (message) => log("< " + message.data);
socket.onclose = (close) => log("closed (" + close.code + ")");
document.getElementById("say").onsubmit = (submit) => {
  submit.preventDefault();
  const text = document.getElementById("text");
  socket.send(text.value);
  log("> " + text.value);
  text.value = "";
};
</script>
</html>
"""


async def echo(receive: Receive, send: Send) -> None:
    """Accept, then send every message back as it came (text as text, bytes as bytes)."""
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
        else:  # websocket.disconnect
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """GET / is the page, /ws the echo; other paths 404 (HTTP) or 403 (WebSocket)."""
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
    elif scope["type"] == "websocket":
        if scope["path"] == "/ws":
            await echo(receive, send)
        else:
            await refuse_websocket(receive, send)
    elif scope["path"] != "/":
        await send_plain(send, 404, b"Not Found")
    elif scope["method"] not in ("GET", "HEAD"):
        await send_plain(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
    else:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(PAGE)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": PAGE})
