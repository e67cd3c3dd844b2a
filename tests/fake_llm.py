"""A fake OpenAI-compatible chat server on 127.0.0.1 whose behaviour depends on the caption it is asked about."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cotvtm_desktop.reasoning.cot import prompt_sections

GOOD = prompt_sections()["example"].split("Answer: ", 1)[1]


def _completion(body: dict, text: str) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


class FakeLLM:
    def __init__(self):
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if "Write a visual scene description" in body["messages"][-1]["content"]:
                    request = body["messages"][-1]["content"].split("\n")[0]
                    return self._send(200, _completion(body, f"A scene for: {request}"))
                caption = body["messages"][-1]["content"].rsplit("Question: ", 1)[1].split("\n")[0]
                with server.lock:
                    server.calls[caption] = server.calls.get(caption, 0) + 1
                    count = server.calls[caption]
                if "busy" in caption and count == 1:
                    return self._send(429, {"error": {"message": "rate limited"}})
                if "slow" in caption:
                    time.sleep(1.5)
                if "fenced" in caption:
                    text = "Here you go:\n```json\n" + GOOD.replace('"}', '",}', 1) + "\n```"
                elif "broken" in caption:
                    text = "I think the music should be sad {not json"
                else:
                    text = GOOD.replace("A soft piano melody", f"Music for {caption}")
                self._send(200, _completion(body, text))

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass  # the client gave up waiting (the timeout case)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
