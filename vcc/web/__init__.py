"""The web front door of a site: agent desktop, caller pages, WebSocket signaling (aiohttp)."""
