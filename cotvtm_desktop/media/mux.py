"""Write the result: the soundtrack muxed with the (copied) video, or audio-only / still-image outputs.

Uses the ffmpeg binary that imageio-ffmpeg ships, so nothing has to be installed on the system. The soundtrack
arrives as float blocks and is piped into ffmpeg while it is being made, so encoding overlaps the last mixing pass.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

import imageio_ffmpeg
import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.errors import OutputError, UserError
from cotvtm_desktop.media.probe import MediaInfo

# Video codecs an mp4 can carry as they are; anything else is re-encoded to H.264.
MP4_COPYABLE_CODECS = ("h264", "hevc", "av1", "mpeg4", "vp9")
AUDIO_FORMATS = {".m4a": ["-c:a", "aac", "-b:a", config.AAC_BITRATE], ".wav": ["-c:a", "pcm_s16le"],
                 ".flac": ["-c:a", "flac"]}
_AAC = ["-c:a", "aac", "-b:a", config.AAC_BITRATE, "-ar", str(config.OUTPUT_SAMPLE_RATE)]
_PIPED_AUDIO = ["-f", "f32le", "-ar", str(config.OUTPUT_SAMPLE_RATE), "-ac", "2", "-i", "pipe:0"]
AudioBlocks = Iterable[np.ndarray]


def mux_video(info: MediaInfo, soundtrack: AudioBlocks, output: Path) -> bool:
    """Mux `soundtrack` (stereo float blocks at the output rate) as the only audio of `info`'s video into mp4
    `output`. Returns whether the video was copied (True) or re-encoded (False)."""
    copy = info.video_codec in MP4_COPYABLE_CODECS
    # Apple's players only open HEVC in mp4 under the 'hvc1' tag (iPhone videos are HEVC); ffmpeg would write 'hev1'
    tag = ["-tag:v", "hvc1"] if info.video_codec == "hevc" else []
    video = ["-c:v", "copy", *tag] if copy else ["-c:v", "libx264", "-crf", "18", "-preset", "veryfast",
                                            "-pix_fmt", "yuv420p", "-fps_mode", "passthrough"]
    _ffmpeg(["-i", str(info.path), *_PIPED_AUDIO, "-map", f"0:{info.video_stream}", "-map", "1:a:0", *video,
             *_AAC, "-t", f"{info.duration:.6f}", "-movflags", "+faststart", "-f", "mp4", str(output)], output,
            soundtrack)
    return copy


def write_audio(soundtrack: AudioBlocks, output: Path, suffix: str) -> None:
    """The soundtrack alone, as .m4a (AAC), .wav or .flac."""
    muxer = {".m4a": "ipod", ".wav": "wav", ".flac": "flac"}[suffix]
    _ffmpeg([*_PIPED_AUDIO, *AUDIO_FORMATS[suffix], "-f", muxer, str(output)], output, soundtrack)


def mux_still(image: Path, soundtrack: AudioBlocks, seconds: float, output: Path) -> None:
    """An mp4 showing `image` for the length of its music."""
    _ffmpeg(["-loop", "1", "-framerate", "2", "-i", str(image), *_PIPED_AUDIO, "-map", "0:v:0",
             "-map", "1:a:0", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264", "-tune", "stillimage",
             "-pix_fmt", "yuv420p", *_AAC, "-t", f"{seconds:.6f}", "-movflags", "+faststart", "-f", "mp4",
             str(output)], output, soundtrack)


def _ffmpeg(arguments: list[str], output: Path, audio: AudioBlocks) -> None:
    """Run ffmpeg with `audio` streamed to its standard input."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *arguments]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            for block in audio:
                process.stdin.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped reading: its exit status and message say why
        finally:
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass
            returncode = process.wait()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if returncode != 0:
        message = (stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
        if "No space left" in stderr:
            raise OutputError("the disk is full; free some space and run again with --resume", output.parent)
        raise UserError(f"writing the output failed: {message}", output)
