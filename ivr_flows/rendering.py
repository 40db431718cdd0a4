"""What a prompt says as text (the simulator, logs of tests): catalogue text + worded values."""

from __future__ import annotations

from ivr_flows.channel import Prompt
from ivr_flows.prompts import render_text


def text(prompt: Prompt, language: str) -> str:
    """The prompt's catalogue text with each ``{placeholder}`` said in words."""
    return render_text(prompt.id, language, prompt.values)
