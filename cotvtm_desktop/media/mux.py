"""Write the result: the soundtrack's AAC packets with the (copied) video in an mp4, or audio-only / still-image
outputs.

mp4 and m4a files are written with PyAV: the video's packets are copied as they are (timestamps, rotation, HDR
metadata untouched) and interleaved with the audio packets that media/aac.py encodes. The video is the first track,
and the source's tags come along (when it was filmed and where, its title, a phone's own keys), so the scored video
sorts and maps like the original in a photo library. A video codec mp4 cannot carry, and a still image, first become
H.264 in the job's work folder through the ffmpeg binary that imageio-ffmpeg ships; .wav and .flac are piped
through it too.
"""

from __future__ import annotations

import contextlib
import heapq
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import av
import imageio_ffmpeg
import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.errors import OutputError, UserError
from cotvtm_desktop.media.probe import MediaInfo

# Video codecs an mp4 can carry as they are; anything else is re-encoded to H.264.
MP4_COPYABLE_CODECS = ("h264", "hevc", "av1", "mpeg4", "vp9")
# 24-bit, what editors and DAWs import for a track to mix further: 16 bits would truncate the quiet ends of fades
_PCM_FORMATS = {".wav": ["-c:a", "pcm_s24le", "-f", "wav"],
                ".flac": ["-c:a", "flac", "-sample_fmt", "s32", "-f", "flac"]}  # FLAC stores s32 as 24-bit
_H264 = ["-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
# Container tags the muxer writes itself; every other tag of the source is carried over
_MUXER_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder")
# iPhones keep the capture date and place under QuickTime 'mdta' keys, which FFmpeg writes only when asked; other
# files keep the classic tags (an Android phone's place is '©xyz', which 'mdta' mode would not write)
_MDTA_KEY_PREFIX = "com.apple.quicktime."
AacPackets = Iterable[av.Packet]  # from media/aac.py: in order, timestamps in samples
AudioBlocks = Iterable[np.ndarray]


def mux_video(info: MediaInfo, soundtrack: AacPackets, output: Path, scratch: Path) -> bool:
    """Write `info`'s video with `soundtrack` as its only audio into mp4 `output`. Returns whether the video was
    copied (True) or re-encoded to H.264 (False, made in the `scratch` folder first)."""
    tags = source_tags(info.path)
    if info.video_codec in MP4_COPYABLE_CODECS:
        # Apple's players only open HEVC in mp4 under the 'hvc1' tag (iPhone videos are HEVC); the default is 'hev1'
        _write_mp4(output, soundtrack, info.path, info.video_stream, info.start_time,
                   "hvc1" if info.video_codec == "hevc" else None, tags=tags)
        return True
    # -copyts keeps the source's timestamps, so the soundtrack stays aligned to the first frame
    _via_h264(["-i", str(info.path), "-map", f"0:{info.video_stream}"], ["-fps_mode", "passthrough", "-copyts"],
              soundtrack, output, scratch, info.start_time, tags)
    return False


def source_tags(path: Path) -> dict[str, str]:
    """The container tags of `path` worth carrying into the scored file."""
    with av.open(str(path)) as source:
        return {key: value for key, value in source.metadata.items() if key.lower() not in _MUXER_TAGS}


def mux_still(image: Path, soundtrack: AacPackets, seconds: float, output: Path, scratch: Path) -> None:
    """An mp4 showing `image` for the length of its music."""
    _via_h264(["-loop", "1", "-framerate", "2", "-i", str(image)],
              ["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-tune", "stillimage", "-t", f"{seconds:.6f}"],
              soundtrack, output, scratch, 0.0)


def mux_picture(video: Path, soundtrack: AacPackets, output: Path) -> None:
    """An mp4 of a made picture (a timeline's, media/proxy.py) with the soundtrack."""
    _write_mp4(output, soundtrack, video)


def _via_h264(inputs: list[str], options: list[str], soundtrack: AacPackets, output: Path, scratch: Path,
              start: float, tags: dict[str, str] | None = None) -> None:
    """The picture ffmpeg reads from `inputs`, made H.264 (with `options`) in the `scratch` folder first, then
    written with the soundtrack (and `tags`)."""
    h264 = scratch / "video.mp4"
    try:
        run_ffmpeg([*inputs, "-an", *_H264, *options, "-f", "mp4", str(h264)], output)
        _write_mp4(output, soundtrack, h264, 0, start, tags=tags)
    finally:
        h264.unlink(missing_ok=True)


def write_m4a(soundtrack: AacPackets, output: Path) -> None:
    """The soundtrack alone as .m4a."""
    _write_mp4(output, soundtrack, format="ipod")


def write_pcm(soundtrack: AudioBlocks, output: Path, suffix: str) -> None:
    """The soundtrack alone as 24-bit .wav or .flac, from its float blocks."""
    run_ffmpeg(["-f", "f32le", "-ar", str(config.OUTPUT_SAMPLE_RATE), "-ac", "2", "-i", "pipe:0",
             *_PCM_FORMATS[suffix], str(output)], output, soundtrack)


def _write_mp4(output: Path, soundtrack: AacPackets, video: Path | None = None, stream_index: int = 0,
               start: float = 0.0, tag: str | None = None, format: str = "mp4",
               tags: dict[str, str] | None = None) -> None:
    """Mux the AAC packets, and the packets of stream `stream_index` of `video` moved so that `start` (seconds)
    becomes 0, in time order; `tag` is the video's codec tag, `tags` the container's."""
    try:
        _mux_streams(output, soundtrack, video, stream_index, start, tag, format, tags or {})
    except av.FFmpegError as exc:
        if isinstance(exc, OSError):
            raise  # a full disk or a folder we may not write: the job says so in one message
        raise UserError(f"writing the output failed ({exc}); if the input is damaged, re-copy it", output) from None


def _mux_streams(output: Path, soundtrack: AacPackets, video: Path | None, stream_index: int, start: float,
                 tag: str | None, format: str, tags: dict[str, str]) -> None:
    mdta = any(key.startswith(_MDTA_KEY_PREFIX) for key in tags)
    with av.open(str(output), "w", format=format,
                 options={"movflags": "+faststart+use_metadata_tags" if mdta else "+faststart"}) as out:
        out.metadata.update(tags)
        with av.open(str(video)) if video is not None else contextlib.nullcontext() as source:
            if source is not None:  # the picture is the first track, as in the source
                stream = source.streams[stream_index]
                copy = out.add_stream_from_template(stream)
                copy.metadata.update(stream.metadata)  # its language, handler name, creation time
                if tag:
                    copy.codec_context.codec_tag = tag
            audio = out.add_stream("aac", rate=config.OUTPUT_SAMPLE_RATE, layout="stereo")
            audio.bit_rate = config.AAC_BITRATE
            timed_audio = ((p.pts * p.time_base, p, audio) for p in soundtrack)
            if source is None:
                _mux(out, timed_audio)
                return
            offset = round(start / stream.time_base)
            _mux(out, heapq.merge(timed_audio, _moved(source.demux(stream), offset, copy), key=lambda t: t[0]))


def _moved(packets: Iterable[av.Packet], offset: int, stream) -> Iterator[tuple]:
    """(decoding time in seconds, packet, output stream) of a demuxed stream's packets, `offset` earlier."""
    for packet in packets:
        if packet.dts is None and packet.pts is None:
            continue  # the demuxer's end-of-stream marker
        packet.pts = None if packet.pts is None else packet.pts - offset
        packet.dts = None if packet.dts is None else packet.dts - offset
        yield (packet.dts if packet.dts is not None else packet.pts) * packet.time_base, packet, stream


def _mux(out, timed: Iterable[tuple]) -> None:
    for _, packet, stream in timed:
        packet.stream = stream
        out.mux(packet)


def run_ffmpeg(arguments: list[str], output: Path, audio: AudioBlocks | None = None) -> None:
    """Run the ffmpeg binary (writing `output`, named in its errors), with `audio` streamed to its standard input if
    given."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *arguments]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL if audio is None else subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=errors)
        try:
            for block in audio or ():
                process.stdin.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped reading: its exit status and message say why
        finally:
            if process.stdin is not None:
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
        raise FfmpegFailed(message, output)


class FfmpegFailed(UserError):
    """The ffmpeg binary stopped with an error; `detail` is its last line."""

    def __init__(self, detail: str, output: Path):
        self.detail = detail
        super().__init__(f"writing the output failed: {detail}", output)
