"""The asyncio and uvloop peer of the `echo` workload: a TCP echo server on
127.0.0.1:PORT, an asyncio Protocol whose data_received writes the data
back (the fast form the asyncio docs show), until SIGINT or SIGTERM.

    echo.py PORT            the default event loop
    echo.py PORT --uvloop   uvloop's (Debian's python3-uvloop); exits 3 if absent

Run with Debian's /usr/bin/python3."""
import argparse
import asyncio
import signal
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set_result, None)
    server = await loop.create_server(Echo, "127.0.0.1", port)
    async with server:
        await stop


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            print("echo.py: uvloop not installed (python3-uvloop)", file=sys.stderr)
            sys.exit(3)
        uvloop.install()
    asyncio.run(main(args.port))
