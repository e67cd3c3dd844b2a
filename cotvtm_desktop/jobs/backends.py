"""Which music backend a job uses, and why (`--backend auto|procedural|neural`)."""

from __future__ import annotations

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.music.backend import MusicBackend
from cotvtm_desktop.music.procedural import ProceduralBackend

BACKENDS = ("auto", "procedural", "neural")


def choose_backend(options) -> tuple[MusicBackend, str]:
    """The backend for `options` (a ScoreOptions) and one sentence saying why it was chosen."""
    if options.backend not in BACKENDS:
        raise UserError(f"unknown backend {options.backend!r}; choose one of {', '.join(BACKENDS)}")
    if options.backend == "procedural":
        return ProceduralBackend(options.seed), "procedural, as asked (--backend procedural)"
    problem = _neural_unavailable(options)
    if problem is None:
        try:
            return _neural(options), ("neural, as asked (--backend neural)" if options.backend == "neural"
                                      else "neural: all its models are present")
        except UserError as exc:
            if options.backend == "neural":
                raise
            problem = str(exc)
    if options.backend == "neural":
        raise UserError(f"the neural backend cannot run: {problem}. `cotvtm models check` shows what is missing")
    return ProceduralBackend(options.seed), f"procedural, because the neural backend cannot run ({problem})"


def _neural_unavailable(options) -> str | None:
    """Why the neural backend cannot run, or None. Cheap: looks for files and packages without importing them
    (importing transformers and diffusers costs seconds, which a procedural run should not pay)."""
    from importlib.util import find_spec

    from cotvtm_desktop.model.registry import locate

    if find_spec("transformers") is None or find_spec("diffusers") is None:
        return "its libraries are not installed (pip install 'cotvtm-desktop[neural]')"
    paths = locate(options.models_dir, options.clip, options.musicgen, options.cotvtm, options.musicgen_size)
    return None if paths.complete else paths.why_not()


def _neural(options) -> MusicBackend:
    from cotvtm_desktop.model.registry import locate
    from cotvtm_desktop.music.neural import NeuralBackend

    paths = locate(options.models_dir, options.clip, options.musicgen, options.cotvtm, options.musicgen_size)
    return NeuralBackend(paths, options.seed, options.device, options.continuity, options.prompts)
