"""``python -m telephony``: run the telephony service for the PBXs in ``PBX_SERVERS``."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import redis.asyncio as aioredis

from core.config import Settings
from core.engines import redis_url
from core.exceptions import PyDialerError
from telephony.service import TelephonyService

logger = logging.getLogger("telephony")


async def _main(settings: Settings) -> None:
    client = aioredis.from_url(redis_url(settings))
    service = TelephonyService(settings.pbx_servers, client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info("telephony service starting for %s", ", ".join(s.name for s in settings.pbx_servers))
    try:
        await service.run(stop)
    finally:
        await client.aclose()


def main() -> int:
    try:
        settings = Settings.from_env()
    except PyDialerError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
