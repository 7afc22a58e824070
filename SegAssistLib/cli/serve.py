"""``segassist serve``: the SegAssist server for remote Slicer panels, scripts and Label Studio.

One process, one backend (the model loads once), many sessions. It listens on 127.0.0.1 by default; any
other address needs an API key (``--api-key`` or ``SEGASSIST_API_KEY``), which clients send as
``Authorization: Bearer KEY`` (Label Studio: Basic auth with the key as password). Logs are JSON lines on
stderr. Needs the ``server`` extra: ``pip install 'segassist[server]'``.
"""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the SegAssist server (remote panels, Label Studio ML backend)",
                       description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--api-key", default=os.environ.get("SEGASSIST_API_KEY"),
                   help="key clients must send (required beyond localhost; default $SEGASSIST_API_KEY)")
    p.add_argument("--max-sessions", type=int, default=8, help="sessions held at once (default 8)")
    p.add_argument("--idle", type=float, default=600.0, help="seconds before an idle session expires (default 600)")
    p.add_argument("--backend", default="classical", help="classical (default) or sam2")
    p.add_argument("--checkpoint", help="SAM 2 checkpoint (.pt) or model name")
    p.add_argument("--device", help="torch device for SAM 2")
    p.add_argument("--label-studio-url", default=os.environ.get("LABEL_STUDIO_URL"),
                   help="Label Studio's address, for task images given as paths (default $LABEL_STUDIO_URL)")
    p.add_argument("--label-studio-token", default=os.environ.get("LABEL_STUDIO_API_KEY"),
                   help="Label Studio API token for fetching images (default $LABEL_STUDIO_API_KEY)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from SegAssistLib.errors import SegAssistError

    try:
        import uvicorn

        from SegAssistLib.server.runner import build, json_logging
    except ImportError as exc:
        raise SegAssistError(f"`segassist serve` needs the server extra ({exc}): pip install 'segassist[server]'.") from None
    options = {k: v for k, v in (("checkpoint", args.checkpoint), ("device", args.device)) if v}
    app, _, _ = build(args.backend, options, args.max_sessions, args.idle, args.api_key, args.host,
                      args.label_studio_url, args.label_studio_token)
    json_logging()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
