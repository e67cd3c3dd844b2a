"""Write the result: the soundtrack's AAC packets with the (copied) video in an mp4, or audio-only / still-image
outputs.

mp4 and m4a files are written with PyAV: the video's packets are copied as they are (timestamps, rotation, HDR
metadata untouched) and interleaved with the audio packets that media/aac.py encodes. The video is the first track,
and the source's tags come along (when it was filmed and where, its title, a phone's own keys), so the scored video
sorts and maps like the original in a photo library. A video codec mp4 cannot carry, and a still image, first become
H.264 in the job's work folder through the ffmpeg binary that imageio-ffmpeg ships; .wav and .flac are piped
through it too.

The source's other tracks come along after the scored sound, as they are: more sound (a second language, a separate
microphone's track; only the first audio track is mixed with the music; sound in a codec an mp4 does not take,
such as a camera's PCM, becomes AAC) and subtitles (text subtitles of other formats become mp4's own). Chapters
and a camera's timecode too. What an mp4 cannot carry is named by `source_tracks`.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import av
import imageio_ffmpeg
import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.errors import OutputError, UserError
from cotvtm_desktop.media.images import save_upright
from cotvtm_desktop.media.probe import MediaInfo

# Video codecs an mp4 can carry as they are; anything else is re-encoded: to H.264, or an HDR picture to HEVC.
MP4_COPYABLE_CODECS = ("h264", "hevc", "av1", "mpeg4", "vp9")
# 24-bit, what editors and DAWs import for a track to mix further: 16 bits would truncate the quiet ends of fades
_PCM_FORMATS = {".wav": ["-c:a", "pcm_s24le", "-f", "wav"],
                ".flac": ["-c:a", "flac", "-sample_fmt", "s32", "-f", "flac"]}  # FLAC stores s32 as 24-bit
_H264 = ["-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
# An HDR picture (an iPhone Pro's ProRes HLG, say) as phones write HDR: HEVC Main 10, which keeps its 10 bits and its
# colour description; 8-bit H.264 would band its gradients (and Apple's players do not decode 10-bit H.264). Its
# colour tags come from the decoded frames.
_HEVC_10BIT = ["-c:v", "libx265", "-crf", "20", "-preset", "veryfast", "-pix_fmt", "yuv420p10le",
               "-x265-params", "log-level=error"]
COPIED, AS_H264, AS_HEVC_10BIT = "copied", "re-encoded to H.264", "re-encoded to HEVC 10-bit (HDR kept)"
# An interlaced picture (a DV or HDV tape's, a DVD's) re-encoded is deinterlaced, a frame from each field (bwdif): a
# phone, a browser or a computer's player does not weave fields apart, and would show every movement combed
DEINTERLACE_FILTER = "bwdif=mode=send_field:parity=auto"
# A picture made here from RGB (a photo, a slideshow) in BT.709 as HD players take it, and tagged so: the filters say
# it of the frames, which the encoder's colour tags come from (FFmpeg 7 on ignores -color_primaries against them)
TO_BT709 = ("scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
            "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")
DEINTERLACED = ", deinterlaced (a frame from each field)"
# Container tags the muxer writes itself; every other tag of the source is carried over
_MUXER_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder")
# iPhones keep the capture date and place under QuickTime 'mdta' keys, which FFmpeg writes only when asked; other
# files keep the classic tags (an Android phone's place is '©xyz', which 'mdta' mode would not write)
_MDTA_KEY_PREFIX = "com.apple.quicktime."
# The source's other tracks that an mp4 carries as they are (audio in these codecs, subtitles as mp4's text)
MP4_AUDIO_CODECS = ("aac", "mp3", "ac3", "eac3", "alac", "opus", "flac")
MP4_SUBTITLE_CODEC = "mov_text"
_TEXT_SUBTITLE_CODECS = ("subrip", "srt", "ass", "ssa", "webvtt", "text")  # made mp4's text on the way
AacPackets = Iterable[av.Packet]  # from media/aac.py: in order, timestamps in samples
AudioBlocks = Iterable[np.ndarray]


@dataclass(frozen=True)
class Track:
    """One stream of a file, to be copied into the output as it is."""
    path: Path
    index: int


@dataclass(frozen=True)
class SourceTrack:
    """A track of the source besides its picture and the sound that is mixed, as the manifest lists it."""
    index: int  # among the file's streams
    type: str  # audio, subtitle, video, data
    codec: str
    language: str | None
    why_left_out: str | None = None  # None: the scored mp4 carries it

    def to_json(self) -> dict:
        return {key: value for key, value in vars(self).items() if value is not None}

    def sentence(self) -> str:
        """E.g. 'its audio track 3 (fra, ac3)'."""
        details = ", ".join(filter(None, (self.language, self.codec)))
        return f"its {self.type} track {self.index + 1} ({details})"


def source_tracks(info: MediaInfo) -> list[SourceTrack]:
    """The tracks of `info`'s file besides its picture and its first audio track (the sound mixed with the music,
    or replaced by it), each saying whether a scored mp4 carries it."""
    tracks = []
    with av.open(str(info.path)) as source:
        mixed = source.streams.audio[0].index if source.streams.audio else None
        for stream in source.streams:
            if stream.index in (info.video_stream, mixed):
                continue
            codec = stream.codec_context.name if stream.codec_context is not None else (
                "timecode" if "timecode" in stream.metadata else "data")
            tracks.append(SourceTrack(stream.index, stream.type, codec, _language(stream),
                                      _why_left_out(stream.type, codec)))
    return tracks


def _why_left_out(kind: str, codec: str) -> str | None:
    if codec == "timecode":
        return None  # written again by the muxer from the picture's timecode (write_tmcd), for an editor to read
    if kind == "audio":
        return None  # made AAC on the way where an mp4 cannot carry it as it is (a camera's PCM)
    if kind == "subtitle":
        return None if codec in (MP4_SUBTITLE_CODEC, *_TEXT_SUBTITLE_CODECS) else (
            "an mp4 carries subtitles as text only, not as pictures")
    if kind == "video":
        return "the scored mp4 has one picture"  # cover art, or a second camera's
    return "an mp4 does not carry data tracks (telemetry, chapter text: chapters come along as chapters)"


def _language(stream) -> str | None:
    language = stream.metadata.get("language")
    return None if language in (None, "und") else language


def mux_video(info: MediaInfo, soundtrack: AacPackets, output: Path, scratch: Path,
              others: Sequence[SourceTrack] = ()) -> str:
    """Write `info`'s video with `soundtrack` as its first audio into mp4 `output`, then the `others` (from
    `source_tracks`) that it carries. Returns how the picture came: COPIED, or made in the `scratch` folder first
    AS_H264 or, an HDR picture, AS_HEVC_10BIT (an interlaced one deinterlaced on the way, + DEINTERLACED)."""
    carried = [t for t in others if t.why_left_out is None and t.codec != "timecode"]
    extra = []
    try:
        extra = [_as_mp4_track(info.path, t, scratch) for t in carried]
        with av.open(str(info.path)) as source:  # what comes along besides the tracks, read in one opening
            tags = _carried_tags(source)
            chapters = source.chapters()
            sound = ({"language": _language(source.streams.audio[0]) or "und"} if source.streams.audio else {})
            timecode = next(filter(None, [source.streams[info.video_stream].metadata.get("timecode"),
                                          *(source.streams[t.index].metadata.get("timecode") for t in others
                                            if t.codec == "timecode")]), None)  # the picture's, or its track's
        layout = Mp4Layout(info.start_time, info.duration, extra, chapters, sound, timecode)
        if info.video_codec in MP4_COPYABLE_CODECS:
            _write_mp4(output, soundtrack, Track(info.path, info.video_stream), layout, _apple_tag(info.video_codec),
                       tags=tags)
            return COPIED
        # -copyts keeps the source's timestamps, so the soundtrack stays aligned to the first frame
        return _reencoded_picture(info, ["-i", str(info.path), "-map", f"0:{info.video_stream}", "-copyts"],
                                  soundtrack, output, scratch, layout, tags)
    finally:
        for track in extra:
            if track.path != info.path:
                track.path.unlink(missing_ok=True)


def _as_mp4_track(source: Path, track: SourceTrack, scratch: Path) -> Track:
    """`track` of `source` as an mp4 carries it: as it is, or made so in the `scratch` folder (text subtitles of
    another format as mp4's text, sound in another codec as AAC), keeping the source's timestamps."""
    if track.codec in (*MP4_AUDIO_CODECS, MP4_SUBTITLE_CODEC):
        return Track(source, track.index)
    codec = ["-c:a", "aac", "-b:a", str(config.AAC_BITRATE)] if track.type == "audio" else ["-c:s", MP4_SUBTITLE_CODEC]
    converted = scratch / f"track-{track.index}.mp4"
    run_ffmpeg(["-i", str(source), "-map", f"0:{track.index}", *codec, "-copyts", "-f", "mp4", str(converted)],
               converted)
    return Track(converted, 0)


@dataclass(frozen=True)
class Mp4Layout:
    """Where a source's streams go in a scored mp4: `start` (seconds of the source) becomes 0, the other tracks
    and the chapters stop at `end` (seconds after it), the scored sound gets the `sound` metadata and the picture
    the `timecode`."""
    start: float = 0.0
    end: float = float("inf")
    others: Sequence[Track] = ()
    chapters: Sequence[dict] = ()  # as PyAV reads them
    sound: dict | None = None
    timecode: str | None = None  # the camera's, at the first frame ("01:02:03:04"): kept for an editor to read


def mux_joined(parts: Sequence[MediaInfo], soundtrack: AacPackets, output: Path, scratch: Path) -> str:
    """The pictures of `parts` — one recording a camera split across files, of one format (timeline.joined_clips)
    — one after another in mp4 `output` with `soundtrack`, the first part's tags with them; each part lasts its
    probed length (FFmpeg's concat demuxer, told each part's duration, so the picture meets the music at every
    join). Copied when mp4 carries the codec and every part's decoder setup is the same, else re-encoded as
    mux_video does. Returns how the picture came, as mux_video says it."""
    listing = scratch / "parts.txt"
    listing.write_text("".join(f"file '{concat_quoted(part.path)}'\nduration {part.duration:.6f}\n"
                               for part in parts), encoding="utf-8")
    first = parts[0]
    with av.open(str(first.path)) as source:
        tags = _carried_tags(source)
    # -auto_convert 0: the packets as they are (its bitstream filter would put H.264's setup in every keyframe)
    concat = ["-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", str(listing), "-map", "0:v:0"]
    try:
        if first.video_codec in MP4_COPYABLE_CODECS and len({_decoder_setup(p) for p in parts}) == 1:
            joined = scratch / "joined.mp4"
            try:
                run_ffmpeg([*concat, "-an", "-c", "copy", "-f", "mp4", str(joined)], output)
                _write_mp4(output, soundtrack, Track(joined, 0), Mp4Layout(), _apple_tag(first.video_codec), tags=tags)
            finally:
                joined.unlink(missing_ok=True)
            return COPIED
        return _reencoded_picture(first, concat, soundtrack, output, scratch, Mp4Layout(), tags)
    finally:
        listing.unlink(missing_ok=True)


def _reencoded_picture(info: MediaInfo, inputs: list[str], soundtrack: AacPackets, output: Path, scratch: Path,
                       layout: Mp4Layout, tags: dict[str, str]) -> str:
    """A picture of `info`'s format that mp4 cannot carry as it is, read by ffmpeg from `inputs`, re-encoded (HDR
    to HEVC 10-bit where the ffmpeg has x265, else to 8-bit H.264 with its HDR tags; interlaced deinterlaced) and
    written with the soundtrack. Returns how, as mux_video says it."""
    hdr = bool(info.hdr) and ffmpeg_has("encoders", "libx265")
    _reencoded(inputs, ["-fps_mode", "passthrough", *(["-vf", DEINTERLACE_FILTER] if info.interlaced else [])],
               soundtrack, output, scratch, layout, tags, hdr=hdr)
    return (AS_HEVC_10BIT if hdr else AS_H264) + (DEINTERLACED if info.interlaced else "")


def concat_quoted(path: Path) -> str:
    """A path as the concat demuxer's list quotes it: inside single quotes, a quote written as '\\''."""
    return str(path.resolve()).replace("'", "'\\''")


def _decoder_setup(info: MediaInfo) -> bytes:
    """A video stream's codec setup (H.264's SPS and PPS, say): parts copied into one mp4 track must share it."""
    with av.open(str(info.path)) as container:
        return bytes(container.streams[info.video_stream].codec_context.extradata or b"")


def _apple_tag(codec: str) -> str | None:
    """Apple's players open HEVC in mp4 only under the 'hvc1' tag (iPhone videos are HEVC); FFmpeg's is 'hev1'."""
    return "hvc1" if codec == "hevc" else None


def _carried_tags(source) -> dict[str, str]:
    """The container tags of an opened source that a scored copy keeps (the muxer writes the rest itself)."""
    return {key: value for key, value in source.metadata.items() if key.lower() not in _MUXER_TAGS}


def mux_still(image: Path, soundtrack: AacPackets, seconds: float, output: Path, scratch: Path) -> None:
    """An mp4 showing `image` (upright, a phone's HEIC too) for the length of its music."""
    upright = save_upright(image, scratch / "still.png")
    try:
        _reencoded(["-loop", "1", "-framerate", "2", "-i", str(upright)],
                   ["-vf", f"scale=trunc(iw/2)*2:trunc(ih/2)*2,{TO_BT709}", "-tune", "stillimage", "-t",
                    f"{seconds:.6f}"],
                   soundtrack, output, scratch, Mp4Layout())
    finally:
        upright.unlink(missing_ok=True)


def mux_picture(video: Path, soundtrack: AacPackets, output: Path) -> None:
    """An mp4 of a made picture (a timeline's, media/proxy.py) with the soundtrack."""
    _write_mp4(output, soundtrack, Track(video, 0))


def _reencoded(inputs: list[str], options: list[str], soundtrack: AacPackets, output: Path, scratch: Path,
               layout: Mp4Layout, tags: dict[str, str] | None = None, hdr: bool = False) -> None:
    """The picture ffmpeg reads from `inputs`, made H.264 (HEVC 10-bit if `hdr`; with `options`) in the `scratch`
    folder first, then written with the soundtrack (and `tags`)."""
    encoded = scratch / "video.mp4"
    try:
        run_ffmpeg([*inputs, "-an", *(_HEVC_10BIT if hdr else _H264), *options, "-f", "mp4", str(encoded)], output)
        _write_mp4(output, soundtrack, Track(encoded, 0), layout, _apple_tag("hevc" if hdr else "h264"), tags=tags)
    finally:
        encoded.unlink(missing_ok=True)


def write_m4a(soundtrack: AacPackets, output: Path) -> None:
    """The soundtrack alone as .m4a."""
    _write_mp4(output, soundtrack, format="ipod")


def write_pcm(soundtrack: AudioBlocks, output: Path, suffix: str) -> None:
    """The soundtrack alone as 24-bit .wav or .flac, from its float blocks."""
    run_ffmpeg(["-f", "f32le", "-ar", str(config.OUTPUT_SAMPLE_RATE), "-ac", "2", "-i", "pipe:0",
                *_PCM_FORMATS[suffix], str(output)], output,
               (np.ascontiguousarray(block, dtype="<f4").tobytes() for block in soundtrack))


def _write_mp4(output: Path, soundtrack: AacPackets, picture: Track | None = None, layout: Mp4Layout = Mp4Layout(),
               tag: str | None = None, format: str = "mp4", tags: dict[str, str] | None = None) -> None:
    """Mux the AAC packets with the `picture` stream and the layout's other tracks; `tag` is the picture's codec
    tag, `tags` the container's."""
    try:
        _mux_streams(output, soundtrack, picture, layout, tag, format, tags or {})
    except av.FFmpegError as exc:
        if isinstance(exc, OSError):
            raise  # a full disk or a folder we may not write: the job says so in one message
        raise UserError(f"writing the output failed ({exc}); if the input is damaged, re-copy it", output) from None


def _mux_streams(output: Path, soundtrack: AacPackets, picture: Track | None, layout: Mp4Layout, tag: str | None,
                 format: str, tags: dict[str, str]) -> None:
    mdta = any(key.startswith(_MDTA_KEY_PREFIX) for key in tags)
    options = {"movflags": "+faststart+use_metadata_tags" if mdta else "+faststart"}
    if layout.timecode and picture is not None:
        options["write_tmcd"] = "1"  # FFmpeg writes a timecode track in mp4 only when asked
    with av.open(str(output), "w", format=format, options=options) as out, contextlib.ExitStack() as sources:
        out.metadata.update(tags)

        def copy_of(track: Track):  # the output stream for `track`, and its input stream
            # a file of its own for each: demuxing one stream skips the others' packets
            stream = sources.enter_context(av.open(str(track.path))).streams[track.index]
            copy = out.add_stream_from_template(stream)
            copy.metadata.update(stream.metadata)  # its language, handler name, creation time
            return copy, stream

        copies = [copy_of(picture)] if picture is not None else []  # the picture is the first track, as in the source
        if tag:
            copies[0][0].codec_context.codec_tag = tag
        if layout.timecode and copies:
            copies[0][0].metadata["timecode"] = layout.timecode
        audio = out.add_stream("aac", rate=config.OUTPUT_SAMPLE_RATE, layout="stereo")
        audio.bit_rate = config.AAC_BITRATE
        audio.metadata.update(layout.sound or {})
        for track in layout.others:
            copy, stream = copy_of(track)
            copy.disposition = 0  # the scored sound is the one a player plays; these are there to choose
            copies.append((copy, stream))
        if layout.chapters:
            out.set_chapters(_moved_chapters(layout.chapters, layout.start, layout.end))
        timed = [((p.pts * p.time_base, p, audio) for p in soundtrack)]
        for n, (copy, stream) in enumerate(copies):
            timed.append(_moved(stream.container.demux(stream), round(layout.start / stream.time_base), copy,
                                None if n == 0 and picture is not None else layout.end))
        _mux(out, heapq.merge(*timed, key=lambda t: t[0]))


def _moved(packets: Iterable[av.Packet], offset: int, stream, until: float | None = None) -> Iterator[tuple]:
    """(decoding time in seconds, packet, output stream) of a demuxed stream's packets, `offset` earlier. With
    `until` (seconds), a track that follows the picture: what ends before the new 0 or starts at `until` or later is
    left out."""
    for packet in packets:
        if packet.dts is None and packet.pts is None:
            continue  # the demuxer's end-of-stream marker
        packet.pts = None if packet.pts is None else packet.pts - offset
        packet.dts = None if packet.dts is None else packet.dts - offset
        time = (packet.dts if packet.dts is not None else packet.pts) * packet.time_base
        if until is not None:
            if time >= until:
                break
            if (time + (packet.duration or 0) * packet.time_base) <= 0:
                continue
        yield time, packet, stream


def _moved_chapters(chapters: Sequence[dict], start: float, end: float) -> list[dict]:
    """The chapters made to count from `start` (seconds of the source), cut at `end` (seconds after it)."""
    moved = []
    for chapter in chapters:
        base = chapter["time_base"]
        first, last = max(chapter["start"] * base - start, 0), min(chapter["end"] * base - start, end)
        if last > first:
            moved.append({**chapter, "id": len(moved), "start": round(first / base), "end": round(last / base)})
    return moved


def _mux(out, timed: Iterable[tuple]) -> None:
    for _, packet, stream in timed:
        packet.stream = stream
        out.mux(packet)


@functools.cache
def ffmpeg_has(kind: str, name: str) -> bool:
    """Whether the ffmpeg binary was built with the encoder or filter `name` (`kind` "encoders" or "filters"):
    imageio-ffmpeg ships other builds on other systems, and an optional library (x265, zimg) may be missing."""
    listing = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", f"-{kind}"], capture_output=True,
                             text=True, errors="replace").stdout
    return any(line.split()[1:2] == [name] for line in listing.splitlines())


def run_ffmpeg(arguments: list[str], output: Path, stdin: Iterable[bytes | np.ndarray] | None = None) -> None:
    """Run the ffmpeg binary (writing `output`, named in its errors), with `stdin` (raw audio or frames) streamed to
    its standard input if given."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *arguments]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=errors)
        try:
            for block in stdin or ():
                process.stdin.write(block)
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
