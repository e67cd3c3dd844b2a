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
        return ProceduralBackend(options.seed, options.segments), "procedural, as asked (--backend procedural)"
    try:
        return _neural(options), ("neural, as asked (--backend neural)" if options.backend == "neural"
                                  else "neural: all its models are present")
    except UserError as exc:
        if options.backend == "neural":
            if isinstance(exc, _Missing):
                raise UserError(f"the neural backend cannot run: {exc}. `cotvtm models check` shows what is "
                                "missing") from None
            raise
        because = f"procedural, because the neural backend cannot run ({exc})"
        return ProceduralBackend(options.seed, options.segments), because


class _Missing(UserError):
    """The neural backend's libraries or model folders are not there."""


def _neural(options) -> MusicBackend:
    """The neural backend, or a UserError saying why not. Looks for the libraries and model folders before
    importing anything heavy (transformers and diffusers take seconds to import, which a procedural run should
    not pay)."""
    from importlib.util import find_spec

    from cotvtm_desktop.model.registry import locate

    if any(find_spec(library) is None for library in ("torch", "transformers", "diffusers")):
        raise _Missing("its libraries are not installed (pip install 'cotvtm-desktop[neural]')")
    paths = locate(options.models_dir, options.clip, options.musicgen, options.cotvtm, options.musicgen_size)
    if not paths.complete:
        raise _Missing(paths.why_not())
    from cotvtm_desktop.music.neural import NeuralBackend

    return NeuralBackend(paths, options.seed, options.device, options.continuity, options.segments)
