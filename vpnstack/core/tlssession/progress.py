"""What the tlssession core reports about its own progress.

How this works: the core knows nothing of layer names or of who listens. Each step it
wants reported becomes a :class:`SessionProgress` among its outputs; the tlssession service
turns each into the ``StateChange`` it hands to ``notify`` (same stage, detail, info and
auth-token, layer "tlssession").
"""

from __future__ import annotations

import attrs

from vpnstack.messages import AuthToken, Stage, TunnelInfo


@attrs.frozen
class SessionProgress:
    """A stage the session reached; ``detail`` is for people and never holds secrets."""

    stage: Stage
    """The stage reached."""
    detail: str = ""
    """Extra text for people (e.g. the server's subject)."""
    info: TunnelInfo | None = None
    """Set with ``Stage.TUNNEL_UP``."""
    auth_token: AuthToken | None = attrs.field(default=None, repr=False)
    """Set with ``Stage.AUTH_TOKEN``: for the client lifecycle to reuse on reconnect."""
