"""What a prompt says as text (the simulator, logs of tests): catalogue text + worded values."""

from __future__ import annotations

from ivr_flows.channel import Prompt
from ivr_flows.prompts.catalogue import Placeholder, load_catalogue
from ivr_flows.prompts.wording import as_text, say_value


def text(prompt: Prompt, language: str) -> str:
    """The prompt's catalogue text with each ``{placeholder}`` said in words."""
    said = []
    for piece in load_catalogue(language).pieces(prompt.id):
        if isinstance(piece, Placeholder):
            said.append(as_text(say_value(prompt.values.get(piece.name), language)))
        else:
            said.append(piece)
    line = " ".join(part for part in said if part)
    for mark in (" .", " ,", " ?"):
        line = line.replace(mark, mark[1:] if mark != " ?" else mark)
    return line
