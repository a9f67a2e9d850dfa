"""The media plane: sans-IO audio logic (DTMF detection, RFC 4733, tones, prompts, recording) and
the aiortc legs a media gateway (``vcc.actors.media_gateway``) is built from. See docs/media.md."""
