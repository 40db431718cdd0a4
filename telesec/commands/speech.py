"""``telesec speech eval DIR``: word error rate, meaning accuracy and speed on a set of clips."""

from __future__ import annotations

from pathlib import Path

import typer

from ivr_flows.speech_eval import EvalSetError, evaluate, format_report, load_set

app = typer.Typer(help="Speech recognition checks.", no_args_is_help=True)


@app.command("eval")
def eval_set(
    folder: Path = typer.Argument(..., help="Folder with expected.yaml and WAV files."),
    model: Path | None = typer.Option(
        None, "--model", help="Vosk model directory (default: the installed model)."
    ),
) -> None:
    """Run a folder of recordings through the model and the understanding; print the scores."""
    from speech.models import ModelRegistry
    from speech.recognizer import SpeechEngine

    try:
        language, _, clips = load_set(folder)
        engine = None
        if any(clip.audio is not None for clip in clips):
            paths = {language: model} if model else _installed(language)
            if language in paths:
                registry = ModelRegistry(paths)
                registry.preload()
                engine = SpeechEngine(registry, max_concurrent_streams=1)
        try:
            language, scores = evaluate(folder, engine)
        finally:
            if engine is not None:
                engine.shutdown()
    except EvalSetError as exc:
        typer.echo(f"speech eval: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(format_report(language, scores))


def _installed(language: str) -> dict[str, Path]:
    from foundation.settings import load_settings
    from speech.models import configured_model_paths

    return configured_model_paths(load_settings())
