"""Choosing and building the classifier that the settings ask for."""

from __future__ import annotations

from pathlib import Path

from bot.classifier import Classifier
from bot.config import Settings
from bot.errors import ConfigError


def load_classifier(settings: Settings) -> Classifier:
    """The embedded model (default) or the LLM backend with the embedded model as its fallback.

    Facts and political matters come from the config; `[classifier] model_path` overrides the model
    shipped in the package.
    """
    from bot.classifier.embedded import DEFAULT_MODEL_DIR, EmbeddedClassifier
    from bot.classifier.training import META_FILE, MODEL_FILE

    model_dir = Path(settings.classifier.model_path).expanduser() if settings.classifier.model_path else None
    checked = model_dir or DEFAULT_MODEL_DIR
    missing = [name for name in (MODEL_FILE, META_FILE) if not (checked / name).is_file()]
    if missing:
        key = "classifier.model_path" if model_dir else "the packaged model"
        raise ConfigError(
            f"{key}: {checked} has no {' or '.join(missing)}; run `kommentarvakt train --output {checked}` "
            "or point classifier.model_path at a trained model directory"
        )
    try:
        embedded = EmbeddedClassifier(model_dir, facts=settings.fact_list, matters=settings.matter_list)
    except (ValueError, OSError, KeyError) as error:
        raise ConfigError(f"cannot load the classifier model from {checked}: {error}") from None
    if settings.classifier.backend == "llm":
        from bot.classifier.llm_backend import LlmClassifier

        return LlmClassifier(settings.llm, fallback=embedded)
    return embedded
