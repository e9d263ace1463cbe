"""A network camera stand-in: serves an MJPEG stream over HTTP (multipart/x-mixed-replace),
as IP cameras do. Run as its own process so killing it is a real mid-stream unplug.

    python test/mjpeg_stream_server.py PORT [WIDTH HEIGHT FPS]
Frame i has every pixel's green channel = i % 256.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np


def main() -> None:
    port = int(sys.argv[1])
    width, height, fps = (int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])) if len(sys.argv) > 4 else (64, 48, 30)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            i = 0
            try:
                while True:
                    img = np.zeros((height, width, 3), np.uint8)
                    img[..., 1] = i % 256
                    jpg = cv2.imencode(".jpg", img)[1].tobytes()
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                    self.wfile.write(head + jpg + b"\r\n")
                    i += 1
                    time.sleep(1.0 / fps)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
