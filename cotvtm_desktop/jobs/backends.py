"""Which music backend a job uses, and why (`--backend auto|procedural|neural`)."""

from __future__ import annotations

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.model.registry import ModelPaths, locate
from cotvtm_desktop.music.backend import MusicBackend
from cotvtm_desktop.music.procedural import ProceduralBackend

BACKENDS = ("auto", "procedural", "neural")


def choose_backend(options) -> tuple[MusicBackend, str]:
    """The backend for `options` (a ScoreOptions) and one sentence saying why it was chosen."""
    name, reason, paths = _choice(options)
    if name == "neural":
        from cotvtm_desktop.music.neural import NeuralBackend

        try:
            return NeuralBackend(paths, options.seed, options.device, options.continuity,
                                 precision=options.precision), reason
        except UserError as exc:  # a model file that will not load, say
            if options.backend == "neural":
                raise
            reason = _fallback(exc)
    return ProceduralBackend(options.seed, options.style(), options.soundfont, options.energy), reason


def backend_choice(options) -> tuple[str, str]:
    """Which backend `choose_backend` picks for `options` and why, judged from the model folders' config files
    (what `cotvtm models check` reports): it loads no weights, so it answers in about a second even for
    MusicGen-large."""
    name, reason, _ = _choice(options)
    return name, reason


_STYLE_WANTS = {"genre": "a genre", "lead": "a lead instrument", "chords": "a chords instrument",
                "bass": "a bass instrument", "without": "parts left out"}


def _style_flags(options) -> list[tuple[str, str]]:
    """The flags given that set the procedural brief of every segment (options.style(), --energy), each with what
    it asks for."""
    flags = [(" ".join(f"--without {part}" for part in value) if name == "without" else f"--{name} {value!r}",
              _STYLE_WANTS[name]) for name, value in options.style().items()]
    if options.energy:
        flags.append((f"--energy {options.energy:g}", "calmer music" if options.energy < 0 else "livelier music"))
    return flags


class _Missing(UserError):
    """The neural backend's libraries or model folders are not there."""


def _choice(options) -> tuple[str, str, ModelPaths | None]:
    if options.backend not in BACKENDS:
        raise UserError(f"unknown backend {options.backend!r}; choose one of {', '.join(BACKENDS)}")
    if options.backend == "procedural":
        return "procedural", "procedural, as asked (--backend procedural)", None
    style = _style_flags(options)
    if style:  # a genre, a lead, the parts, the energy are choices in the procedural backend's brief: neural lacks it
        if options.backend == "neural":
            raise UserError(f"{' '.join(flag for flag, _ in style)}: the neural backend has no genre, instruments, "
                            "parts or energy to set; steer its segments in words with --prompt K=words, or use "
                            "--backend procedural")
        return "procedural", f"procedural, because {' and '.join(f'{f} asks for {w}' for f, w in style)}", None
    notes = [flag for flag, wanted in (("--midi", options.midi), ("--stems", options.stems),
                                       ("--soundfont", options.soundfont is not None)) if wanted]
    if notes and options.backend == "auto":  # the neural backend makes audio, not notes, parts or a font's sound
        return "procedural", f"procedural, which {' and '.join(notes)} need{'s' * (len(notes) == 1)}", None
    briefs = sorted(k + 1 for k, edit in options.segments.items() if edit.brief)
    if briefs:  # a music brief is the procedural backend's; said before any model loads
        numbers = ', '.join(map(str, briefs))
        if options.backend == "neural":
            raise UserError(f"segment {numbers}: the neural backend has no music brief to edit; give the segment a "
                            "prompt in words instead, or use --backend procedural")
        return "procedural", f"procedural, because the music brief of segment {numbers} is edited", None
    try:
        paths = _neural_paths(options)
    except UserError as exc:
        if options.backend == "auto":
            return "procedural", _fallback(exc), None
        if isinstance(exc, _Missing):
            raise UserError(f"the neural backend cannot run: {exc}. `cotvtm models check` shows what is "
                            "missing") from None
        raise
    return "neural", ("neural, as asked (--backend neural)" if options.backend == "neural"
                      else "neural: all its models are present"), paths


def _fallback(exc: UserError) -> str:
    return f"procedural, because the neural backend cannot run ({exc})"


def _neural_paths(options) -> ModelPaths:
    """The neural backend's model folders, checked against each other from their config files, or a UserError
    saying why they cannot be used. Looks for the libraries first: importing torch is not needed to know they are
    missing."""
    from importlib.util import find_spec

    if any(find_spec(library) is None for library in ("torch", "transformers", "diffusers")):
        raise _Missing("its libraries are not installed (pip install 'cotvtm-desktop[neural]')")
    paths = locate(options.models_dir, options.clip, options.musicgen, options.cotvtm, options.musicgen_size)
    if not paths.complete:
        raise _Missing(paths.why_not())
    from cotvtm_desktop.model.checkpoint import check_encoders, read_config

    check_encoders(read_config(paths.cotvtm), paths.clip, paths.musicgen, paths.cotvtm)
    return paths
