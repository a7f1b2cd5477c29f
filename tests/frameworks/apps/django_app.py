"""Django under ASGI with Channels: JSON at /hello, a StreamingHttpResponse at /stream, a consumer echoing at /ws.

Served as `django_app:application` with DJANGO_SETTINGS_MODULE=django_settings; this
module is also the ROOT_URLCONF, so `urlpatterns` lives here.
"""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import path
from stream_gate import gated_chunks


async def hello(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"framework": "django", "path": request.path})


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(gated_chunks(request.GET["gate"]), content_type="text/plain")


class Echo(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


urlpatterns = [path("hello", hello), path("stream", stream)]

application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter([path("ws", Echo.as_asgi())]),
    }
)
