"""``telesec prompts synth`` (fill the audio cache) and ``telesec prompts import`` (a practice's
own recording of a prompt)."""

from __future__ import annotations

from pathlib import Path

import typer

from foundation.settings import load_settings
from ivr_flows.prompts import cache_dir, composer_for, recordings_dir
from ivr_flows.prompts.catalogue import LANGUAGES
from ivr_flows.prompts.compose import warm_cache
from ivr_flows.prompts.upload import import_recording

app = typer.Typer(help="Voice prompts: synthesis cache and practices' recordings.",
                  no_args_is_help=True)


@app.command("synth")
def synth(
    lang: str | None = typer.Option(None, "--lang", help="fr or en (default: both)."),
) -> None:
    """Synthesise every catalogue prompt and fixed word (dates, times) into the cache."""
    settings = load_settings()
    composer = composer_for(settings.data_path)
    for language in [lang] if lang else list(LANGUAGES):
        prompts, words = warm_cache(composer, language)
        typer.echo(f"{language}: {prompts} prompts and {words} words cached")
    typer.echo(f"cache: {cache_dir(settings.data_path)}")


@app.command("import")
def import_command(
    prompt_id: str = typer.Argument(..., help="Prompt id from the catalogue, e.g. greeting."),
    file: Path = typer.Argument(..., help="WAV or MP3 recording."),
    practice: str = typer.Option(..., "--practice", help="The practice's short name (slug)."),
    lang: str = typer.Option("fr", "--lang", help="Language of the recording (fr or en)."),
) -> None:
    """Use a practice's own recording for a prompt (normalised to the engine's format)."""
    settings = load_settings()
    stored = import_recording(
        file, practice=practice, language=lang, prompt_id=prompt_id,
        recordings_dir=recordings_dir(settings.data_path),
    )
    seconds = stored.stat().st_size / 32_000
    typer.echo(f"{practice}: {lang} prompt {prompt_id} now uses {file.name} ({seconds:.1f} s)")
