"""A process that keeps the Zalo OA's tokens as the app does and uses one, for the crash
tests: `python -m tests.oa_tokens_child <use-url>` with the app's environment. It starts the
token keeper, takes an access token and POSTs to the URL with it in the `access_token`
header; an answer of error -216 (the token refused) gets a new token through rejected() and
one more try. It prints `USED <n>` (how many tries) or `LOST <problem>` (exit status 3).

When the OA channel runs inside `python -m bot run`, the crash tests can start that instead."""

import asyncio
import sys

import httpx

from bot.channels.zalo_oa_auth import TokensLost, build_tokens
from bot.settings import Settings
from storage.db import Database

INVALID_TOKEN = -216


async def use(url: str) -> int:
    """Start the keeper, use a token (twice at most); the exit status."""
    settings = Settings()
    db = Database(settings.database_url.get_secret_value())
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            tokens = build_tokens(settings, db, http)
            assert tokens is not None, "ZALO_OA_APP_ID and ZALO_OA_APP_SECRET are set"
            await tokens.start()
            try:
                token = await tokens.access_token()
                for tries in (1, 2):
                    answer = (await http.post(url, headers={"access_token": token})).json()
                    if answer.get("error") != INVALID_TOKEN:
                        print(f"USED {tries}", flush=True)
                        return 0
                    token = await tokens.rejected(token)
            except TokensLost as lost:
                print(f"LOST {lost}", flush=True)
                return 3
            print("REFUSED", flush=True)
            return 4
    finally:
        await db.dispose()


if __name__ == "__main__":
    sys.exit(asyncio.run(use(sys.argv[1])))
