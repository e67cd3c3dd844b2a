"""Every default of the product in one place. Other modules import these; nothing else hard-codes them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# --- segmenting -------------------------------------------------------------------------------------------------
SEGMENT_SECONDS = 10.0  # the paper's unit: one music segment per 10 s of video
MIN_VIDEO_SECONDS = 1.0  # a shorter video or edit is refused: its fades alone would fill its music
MIN_SEGMENT_SECONDS = 4.0  # a shorter tail is merged into the previous segment (10.048 s -> one segment)
CUT_SNAP_SECONDS = 3.0  # a boundary moves to a scene cut lying this close, so music changes on cuts
KEYFRAMES_PER_SEGMENT = 3

# --- analysis ---------------------------------------------------------------------------------------------------
ANALYSIS_FPS = 6.0  # frames per second looked at for motion and cuts (a cut is then located to its frame)
# Videos with a keyframe every this many seconds (most phones and cameras) are sampled at their keyframes, which
# costs a fraction of decoding everything; others are decoded at ANALYSIS_FPS.
SPARSE_KEYFRAME_GAP = (0.3, 2.5)
# A cut's first frame, when the full-rate scan skipped it (no other frame refers to it), is found by decoding again
# from the keyframe before it when that lies this close; else the cut is placed a few frames late at most
CUT_LOCATE_MAX_DECODE_SECONDS = 2.5
ANALYSIS_SIZE = (96, 54)  # width, height of the small frames used for colour, motion and cuts
# Bump when what is measured from the frames changes (2: HDR frames seen as SDR shows them, 3: photos decoded small,
# in sRGB, 16-bit and transparent ones as shown), so an analysis kept in a work folder (the desktop app's previews,
# --work) is measured again
ANALYSIS_VERSION = 3
OBJECT_INPUT_SIZE = 224  # EfficientNet-Lite0 input
# a photo is measured from a decode at least this many pixels wide and high (twice the models' input): a phone's
# JPEG at a quarter of its size, several times quicker (media/images.py load_picture)
PHOTO_ANALYSIS_SIDE = 2 * OBJECT_INPUT_SIZE
OBJECT_TOP_K = 5
IMAGE_SECONDS = 30.0  # music length for a still image unless --duration
POSTER_SECONDS = 3.0  # a video's thumbnail shows this moment (or its middle, if shorter)
# The picture of a timeline's preview (media/proxy.py): small and quick to make, enough to judge music against cuts
PREVIEW_SHORT_SIDE = 360  # pixels: 640x360 for a 16:9 edit, 360x640 for a phone's upright one
PREVIEW_MAX_FPS = 30
PREVIEW_CRF = 26
# Bump when a piece renders differently, so that kept pieces are made again (2: HDR as SDR shows it, 3: deinterlaced,
# 4: converted to BT.709 and tagged so, as a slideshow's full-size picture must be; photos in sRGB; 5: its primaries
# and transfer tagged too, a moving photo's frames made in BT.709 4:2:0; 6: a slideshow's fades; 7: a photo framed
# on its faces)
PREVIEW_VERSION = 7
# A slideshow (`score --slideshow`, media/slideshow.py): its picture full size, each photo on screen for
# SLIDESHOW_PHOTO_SECONDS with a slow zoom from 1 to SLIDESHOW_ZOOM (or back, or a pan at SLIDESHOW_ZOOM); a photo
# fills the frame when that trims at most SLIDESHOW_COVER_CROP of its width or height, else it shows whole over a
# blurred fill of itself (so does a video)
SLIDESHOW_PHOTO_SECONDS = 4.0
SLIDESHOW_PHOTO_SECONDS_RANGE = (1.0, 60.0)
SLIDESHOW_FILM_SECONDS_MAX = 3600  # the longest film length the app's Arrange offers
# An iPhone keeps a Live Photo as a photo and a short video of the same name (IMG_1234.HEIC, IMG_1234.MOV: about 3 s);
# a video this short beside a photo of its name is taken for one, and a slideshow shows the photo alone
LIVE_PHOTO_SECONDS = 4.0
# A slideshow leaves out all but the sharpest of a run of shots of one moment (a burst, a pose taken twice): photos
# next to each other, taken within SIMILAR_SHOT_SECONDS of each other (by their EXIF dates: an undated photo is
# never left out), whose SIDE x SIDE pictures differ by under SIMILAR_SHOT_DIFFERENCE (mean absolute, of full
# scale); --keep-similar shows them all
SIMILAR_SHOT_SECONDS = 10.0
SIMILAR_SHOT_SIDE = 24
SIMILAR_SHOT_DIFFERENCE = 0.07  # benchmarks/similar_shots.py: simulated bursts 0.02-0.08, views taken again 0.1-0.2
SLIDESHOW_SHORT_SIDE = 1080  # 1920x1080, or 1080x1920 when most of its pictures stand upright
SLIDESHOW_SIZES = (360, 720, 1080, 1440, 2160)  # --slideshow-size: the film's shorter side, from a quick look to 4K
SLIDESHOW_PREVIEW_SIDE = 360  # the desktop app's preview of a slideshow: a quick look (the export is full size)
SLIDESHOW_FPS = 30  # of photos alone; with videos among them, the videos' rate (up to SLIDESHOW_MAX_FPS)
SLIDESHOW_MAX_FPS = 60
SLIDESHOW_CRF = 20
SLIDESHOW_ZOOM = 1.08
SLIDESHOW_DISSOLVE_SECONDS = 0.8  # with --dissolve: a photo into the next, centred on their join
SLIDESHOW_COVER_CROP = 0.17  # a 3:2 camera photo fills 16:9 (16 % of its height trimmed), a 4:3 one shows whole
# the fill behind a photo (or video) shown whole: blurred by this fraction of the frame's longer side (Gaussian
# sigma), its levels scaled by this
SLIDESHOW_BACKDROP_BLUR, SLIDESHOW_BACKDROP_LEVEL = 1 / 40, 0.45
# --title: words over the film's opening, in from SLIDESHOW_TITLE_SECONDS[0] to out by [1], fading over
# SLIDESHOW_TITLE_FADE; white letters SLIDESHOW_TITLE_HEIGHT of the frame's height (smaller if they would not fit),
# centred across it, their middle the first of SLIDESHOW_TITLE_MIDDLES of the way down that keeps them off the faces
# in the pictures under them (the middle; else low, where faces seldom are; else high), or that covers least of them
SLIDESHOW_TITLE_SECONDS, SLIDESHOW_TITLE_FADE, SLIDESHOW_TITLE_HEIGHT = (0.3, 4.0), 0.7, 0.11
SLIDESHOW_TITLE_MIDDLES = (0.5, 0.8, 0.2)
# --dates: the day over the first picture of each day, from SLIDESHOW_CAPTION_SECONDS[0] into it for up to [1]
# seconds, fading over SLIDESHOW_CAPTION_FADE; letters SLIDESHOW_CAPTION_HEIGHT of the frame's height, centred
# across it, their middle SLIDESHOW_CAPTION_MIDDLES[0] of the way down (the lower third, where captions go), or [1]
# (the top) where that keeps them off the faces under them, as the title is placed
SLIDESHOW_CAPTION_SECONDS, SLIDESHOW_CAPTION_FADE = (0.3, 3.5), 0.5
SLIDESHOW_CAPTION_HEIGHT, SLIDESHOW_CAPTION_MIDDLES = 0.055, (0.86, 0.14)
# --places: a picture's town (media/places.py) is the nearest place of 1,000 people or more, but a city of
# PLACE_CITY_PEOPLE or more within PLACE_CITY_KM of it goes first (a district goes by its city's name)
PLACE_CITY_PEOPLE, PLACE_CITY_KM = 100_000, 15.0
# A photo's faces (analysis/faces.py, MTCNN) frame it: looked for with the photo FACE_DETECT_SIDE pixels on its
# longer side, faces of FACE_MIN_PIXELS or more (MTCNN's usual 20: at 800, 2.5 % of the side), kept where each stage
# of the cascade is at least this sure (P-Net's and R-Net's as MTCNN's authors set them; O-Net's stricter, as a
# zoom onto a face that is not one shows); a face under FACE_SMALLEST_SHARE of the largest one's height is someone
# in the background, not whom the photo is of
FACE_DETECT_SIDE, FACE_MIN_PIXELS = 800, 20
FACE_THRESHOLDS = (0.6, 0.7, 0.9)
FACE_SMALLEST_SHARE = 0.5

# --- audio ------------------------------------------------------------------------------------------------------
OUTPUT_SAMPLE_RATE = 48000  # the rate of the exported soundtrack (AAC in mp4) and of procedural rendering
CROSSFADE_SECONDS = 0.5  # equal-power crossfade between segments, centred on the boundary (media/audio.py stitch)
# the music fades in at its start (and after a stretch without music) and out at its end (and before one)
FADE_IN_SECONDS = 0.3
FADE_OUT_SECONDS = 2.0
FADE_RANGE_SECONDS = (0.0, 10.0)  # what --fade-in and --fade-out take
TARGET_LUFS = -16.0  # integrated loudness of the export (EBU R128 / BS.1770)
TRUE_PEAK_DBTP = -1.0
DUCK_DB = 12.0  # how far the music dips under the original audio's foreground (voices, laughter) when it is kept
# The original's foreground: where its level in the voice's band rises this far over its own background (a low
# percentile of its level over the seconds around) the music starts to dip, and it is fully down this much higher;
# never for a sound under an absolute floor (a near-silent track has no foreground)
DUCK_ONSET_DB, DUCK_KNEE_DB, DUCK_FLOOR_DBFS = 4.0, 5.0, -60.0
DUCK_SIDECHAIN_HIGHPASS_HZ = 300.0  # the voice's band, where the foreground is looked for, starts here
DUCK_BAND_UNDER_FULL_DB = 20.0  # a sound in that band this far under the whole background is no foreground
DUCK_BACKGROUND_SECONDS, DUCK_BACKGROUND_PERCENTILE = 4.0, 10.0
# The dip starts this early (the first syllable is heard clearly), holds this long after a sound (no pumping
# between words) and then releases; attack and release are one-pole time constants
DUCK_LOOKAHEAD_SECONDS, DUCK_HOLD_SECONDS = 0.12, 0.4
DUCK_ATTACK_SECONDS, DUCK_RELEASE_SECONDS = 0.03, 0.5
# The music's level against the original's: undipped, this far under its foreground's loudness (so under a voice it
# sits DUCK_DB more below it), or, where the original has no foreground (wind, waves, a quiet room), this far over it
MUSIC_HIGHPASS_HZ = 20.0  # the music loses what lies below hearing (a DC offset, rumble) before it is mixed
MUSIC_UNDER_FOREGROUND_LU = 3.0
MUSIC_OVER_BACKGROUND_LU = 8.0
MUSIC_LEVEL_DB = 0.0  # the user's offset from that placement (--music-db): louder or quieter music
MUSIC_LEVEL_RANGE_DB = (-20.0, 20.0)
# A segment's own music level (--segment-db, the app's Edit…) is reached this long before the segment starts: the
# one before moves to it over its last moments, so the new segment's first downbeat is at its level
SEGMENT_LEVEL_RAMP_SECONDS = 0.4
MIN_FOREGROUND_SECONDS = 1.0  # less foreground than this and the original is treated as background
# The manifest's loudness envelopes (a front end draws them along the soundtrack): one level per window of at least
# this many seconds, and at most this many levels (a long video's windows are longer)
LEVEL_WINDOW_SECONDS, LEVEL_POINTS_MAX = 0.2, 3000
AAC_BITRATE = 224_000  # bits per second, stereo
# FFmpeg's `fast` AAC coder with mid/side stereo off, at 224 kbit/s: against FFmpeg's defaults (the twoloop coder, M/S
# on) at 192 kbit/s, higher perceived quality (Zimtohrli MOS over 13 excerpts of the product's music, noise and
# voice: mean 4.961 vs 4.956, worst 4.929 vs 4.905) for a third of the encoding CPU, the largest single cost of
# scoring a video. `fast` with M/S searches stereo modes at length (up to 4x the CPU on dense music), and at 192
# kbit/s it scored 4.954, worst 4.884. Measured with benchmarks/aac_coders.py; numbers in benchmarks/RESULTS.md.
AAC_OPTIONS = {"aac_coder": "fast", "aac_ms": "0"}
AAC_CHUNK_SECONDS = 30.0  # the soundtrack is encoded in chunks this long, in parallel (media/aac.py)

# --- procedural backend -----------------------------------------------------------------------------------------
ENERGY_RANGE = (-1.0, 1.0)  # --energy: calmer .. livelier than the picture asks (procedural; music_rules.json)
SEED = 0
# Segments render in worker processes, one per core, when there are at least this many to render (fewer finish
# in less time than the workers take to start); at most this many workers, each holding ~200 MiB (the soundfont
# and its note cache).
PARALLEL_RENDER_MIN_SEGMENTS = 12
PARALLEL_RENDER_MAX_WORKERS = 4


def soundfont_path() -> Path:
    """The General MIDI soundfont that pretty_midi ships (TimGM6mb.sf2, GPL-2)."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


# Where Linux distributions install General MIDI soundfonts (Debian's and Ubuntu's fluid-soundfont-gm and
# musescore-general-soundfont, Fedora's and Arch's soundfont-fluid), and where a user keeps their own: the app's
# Settings offer what is there
SOUNDFONT_FOLDERS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts",
                     "/usr/local/share/soundfonts", "~/.local/share/soundfonts")


def installed_soundfonts() -> list[Path]:
    """The .sf2 and .sf3 files in SOUNDFONT_FOLDERS, each once (a distribution's default-GM.sf2 is a link to
    another)."""
    found = []
    for folder in map(Path, SOUNDFONT_FOLDERS):
        if folder.expanduser().is_dir():
            found += [path.resolve() for path in sorted(folder.expanduser().iterdir())
                      if path.suffix.lower() in (".sf2", ".sf3") and path.is_file()]
    return list(dict.fromkeys(found))


def resource_path(name: str) -> Path:
    """A file in cotvtm_desktop/resources (rules, vocabularies, labels)."""
    return Path(str(resources.files("cotvtm_desktop") / "resources" / name))


# --- neural backend ---------------------------------------------------------------------------------------------
CLIP_MODEL_ID = "openai/clip-vit-base-patch32"  # the paper's E_v encoder (512-d)
CAPTIONER_MODEL_ID = "Salesforce/blip-image-captioning-large"  # BLIP: the paper's image captioner (training data only)
# The stereo models share their sizes' T5 encoder, so a checkpoint trained against one size's E_m decodes with both.
MUSICGEN_MODEL_IDS = {size: f"facebook/musicgen-{size}" for size in (
    "small", "medium", "large", "stereo-small", "stereo-medium", "stereo-large")}
MUSICGEN_SIZE = "small"
MUSICGEN_GUIDANCE = 3.0
# MusicGen's number format (--precision). auto: bfloat16 where the hardware computes it (a GPU that has it, or a CPU
# with AVX-512 or Arm's BF16), float16 on older GPUs, float32 on other CPUs. Decoding reads every weight per step:
# on the benchmark's 2-core CPU bfloat16 makes 4x the tokens per second at batch 1, 3x at 4 (benchmarks/RESULTS.md).
MUSICGEN_PRECISIONS = ("auto", "float32", "bfloat16", "float16")
MUSICGEN_PRECISION = "auto"
# `cotvtm batch --watch`: how often the folder is looked at; a file is scored once it has stopped changing for this
# long (a copy from a phone or a card has finished)
WATCH_POLL_SECONDS = 5.0
NEURAL_MAX_BATCH = 8  # segments decoded together at most (cotvtm batch runs the batch across videos)
CONTINUITY_SECONDS = 2.0  # each segment continues from this much of the previous one (--continuity)
MODELS_SUBFOLDERS = {"clip": "clip", "musicgen": "musicgen", "cotvtm": "cotvtm"}  # inside --models DIR


# --- training (paper, section 4.2) -------------------------------------------------------------------------------
MLP_TRAINING = {"epochs": 65, "batch_size": 256, "lr": 5e-4}  # AdamW, constant rate, dropout 0.2, MSE
EMBEDDIFF_TRAINING = {"epochs": 200, "batch_size": 256, "lr": 1e-4}  # AdamW, cosine schedule, 1000 steps
# X_rt: which parts of the teacher's rationale are encoded into E_r (reasoning/cot.py CoTAnswer.rationale_text)
RATIONALE_FIELDS = ("step1", "visual_elements", "visual_description", "step2", "music_elements")
CONDITION_DROPOUT = 0.1  # classifier-free guidance: how often EmbedDiff trains on the null condition
VALIDATION_FRACTION = 0.05


def default_models_dir() -> Path:
    """Where model folders live unless --models says otherwise ($COTVTM_MODELS, else ~/.cotvtm/models)."""
    import os

    return Path(os.environ.get("COTVTM_MODELS", Path.home() / ".cotvtm" / "models"))


def cache_dir() -> Path:
    """What cotvtm derives once and keeps between runs (the object model's ONNX graph): $COTVTM_CACHE, else
    ~/.cotvtm/cache. Anything in it can be deleted; it is rebuilt when needed."""
    import os

    return Path(os.environ.get("COTVTM_CACHE", Path.home() / ".cotvtm" / "cache"))


# --- files ------------------------------------------------------------------------------------------------------
# (a folder's videos: a file named on its own is tried whatever its name.) .vob: a DVD's; .mod/.tod: JVC's and
# Panasonic's MPEG-2 camcorders; .m2t: an HDV tape's capture; .dv: a DV tape's; .mxf: professional cameras'
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mts", ".m2ts", ".3gp", ".wmv", ".flv", ".mpg",
                    ".mpeg", ".vob", ".mod", ".tod", ".m2t", ".dv", ".mxf")
# .heic/.heif: the photos of iPhones (and many Android phones), read through pi-heif; .avif by Pillow itself
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif")
# Editor projects: timelines to score (.fcpxmld: Final Cut Pro's bundle, a folder holding its .fcpxml)
PROJECT_EXTENSIONS = (".mlt", ".kdenlive", ".otio", ".xml", ".edl", ".fcpxml", ".fcpxmld")
# A project's scored copy keeps its format, but an EDL's (no audio track to add the music to) is FCP 7 XML, and a
# Final Cut Pro bundle's a plain .fcpxml document
PROJECT_COPY_EXTENSIONS = {".edl": ".xml", ".fcpxmld": ".fcpxml"}
OUTPUT_SUFFIX = ".scored"  # holiday.mp4 -> holiday.scored.mp4
IMAGE_OUTPUT_EXTENSION = ".m4a"
TIMELINE_OUTPUT_EXTENSION = ".wav"  # a timeline (editor plugins) gets the music alone, for an audio track
WORK_DIR_NAME = ".cotvtm-work"  # per-segment cache beside the output, used by --resume


def is_media_folder(path: Path) -> bool:
    """A folder named for the videos and images in it; not a project that is a folder (Final Cut Pro's bundle)."""
    return path.is_dir() and path.suffix.lower() not in PROJECT_EXTENSIONS


def project_copy_suffix(project: Path) -> str:
    """The extension of a project's scored copy."""
    return PROJECT_COPY_EXTENSIONS.get(project.suffix.lower(), project.suffix)
