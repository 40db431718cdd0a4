"""``telesec models install fr|en`` and ``telesec models list``: the Vosk speech models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from foundation.settings import Settings, load_settings
from speech.install import install_release
from speech.models import (
    OFFICIAL_RELEASES,
    SUPPORTED_LANGUAGES,
    configured_model_paths,
    layout_problem,
    models_dir,
    release_for,
)

app = typer.Typer(help="Speech recognition models (Vosk).", no_args_is_help=True)

DIR_OPTION = typer.Option(None, "--dir", help="Models folder (default: speech.models_dir).")


def _settings(directory: Path | None) -> Settings:
    settings = load_settings()
    if directory is None:
        return settings
    speech = settings.speech.model_copy(update={"models_dir": directory})
    return settings.model_copy(update={"speech": speech})


@app.command("install")
def install(
    language: str = typer.Argument(..., help="fr or en"),
    directory: Path | None = DIR_OPTION,
    archive: Path | None = typer.Option(
        None, "--archive", help="Install from a local copy of the official zip (offline)."
    ),
    mirror: str | None = typer.Option(
        None, "--mirror", help="Base URL of a mirror holding the official zip files."
    ),
) -> None:
    """Download the official model for LANGUAGE, check its SHA-256 and unpack it."""
    release = release_for(language)
    if mirror:
        release = replace(release, url=mirror.rstrip("/") + "/" + release.url.rsplit("/", 1)[1])
    target = models_dir(_settings(directory))
    shown = {"last": -1}

    def progress(done: int, total: int) -> None:
        percent = min(100, done * 100 // max(total, 1))
        if percent >= shown["last"] + 10:
            shown["last"] = percent
            typer.echo(f"  {percent:3d}% of {total // (1 << 20)} MB")

    typer.echo(f"installing {release.name} into {target}")
    installed = install_release(release, target, archive=archive, progress=progress)
    typer.echo(f"{language}: {release.name} installed in {installed}")


@app.command("list")
def list_models(directory: Path | None = DIR_OPTION) -> None:
    """Show which languages have a usable model, and where."""
    settings = _settings(directory)
    usable = configured_model_paths(settings)
    base = models_dir(settings)
    for language in SUPPORTED_LANGUAGES:
        path = usable.get(language)
        if path is not None:
            typer.echo(f"{language}  installed      {path}")
        else:
            name = OFFICIAL_RELEASES[language].name
            typer.echo(f"{language}  not installed  (telesec models install {language} → {name})")
    known = set(usable.values())
    if base.is_dir():
        for entry in sorted(base.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.resolve() not in known and layout_problem(entry) is None:
                typer.echo(f"--  other model    {entry}")
