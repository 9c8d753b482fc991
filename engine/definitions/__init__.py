"""Deployed process definitions: the gate's verdict on a diagram, immutable versions, the parsed-diagram cache, and
analysts' drafts."""
