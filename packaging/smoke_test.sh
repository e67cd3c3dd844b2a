#!/usr/bin/env bash
# Smoke test of a built app folder, headless and without Python:
#   bash packaging/smoke_test.sh dist/cotvtm [MODELS_DIR]
# 1. the CLI answers --version and completes a command line;
# 2. it scores a tiny synthetic video on the procedural backend into a valid mp4 (and with a SoundFont 3), a phone's
#    HEIC photo, a slideshow, and a 130 s video, whose 13 segments render in worker processes started through the
#    frozen executable, and a timeline (.otio in, FCP 7 XML out; and its preview, the picture rendered small; an EDL
#    in too);
# 3. the GUI starts (offscreen), inspects the video through its own CLI as a child process, and quits when
#    terminated;
# 4. with MODELS_DIR (e.g. from `python -m cotvtm_desktop.testing.tiny_models DIR`), the neural backend scores the
#    video too.
set -euo pipefail
app_dir="$(cd "${1:?usage: smoke_test.sh APP_FOLDER}" && pwd)"
app="$app_dir/cotvtm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# a fresh cache: the first scoring builds the object model's ONNX graph (with the bundled onnx), the
# second runs it in ONNX Runtime
export COTVTM_CACHE="$work/cache"

"$app" --version
# a shell completing a command line runs the app with no arguments: it answers, it does not open the window
COMP_WORDS="cotvtm sco" COMP_CWORD=1 _COTVTM_COMPLETE=bash_complete timeout 60 "$app" | grep -q score

ffmpeg="$(find "$app_dir" -path '*imageio_ffmpeg/binaries/ffmpeg*' -type f | head -n 1)"
"$ffmpeg" -nostdin -loglevel error -f lavfi -i testsrc2=size=320x180:rate=25 -f lavfi -i sine=frequency=440 \
    -t 6 -c:v libx264 -pix_fmt yuv420p -c:a aac "$work/tiny.mp4"
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 "$app" score "$work/tiny.mp4" --json-progress > "$work/events.txt"
grep -q '"type": "file_done"' "$work/events.txt"
"$ffmpeg" -nostdin -v error -i "$work/tiny.scored.mp4" -f null - 2> "$work/decode.txt"
[ ! -s "$work/decode.txt" ] && [ -s "$work/tiny.scored.mp4" ]
echo "scored: $(wc -c < "$work/tiny.scored.mp4") bytes"
ls "$COTVTM_CACHE"/*.onnx > /dev/null
# a SoundFont 3 (MuseScore's kind: its samples Ogg Vorbis, decoded by the bundled libsndfile): music, not silence
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 "$app" score "$work/tiny.mp4" -o "$work/sf3.wav" \
    --soundfont "$(dirname "$0")/../tests/data/sines.sf3" > /dev/null
"$ffmpeg" -nostdin -i "$work/sf3.wav" -af volumedetect -f null - 2>&1 | grep max_volume \
    | awk '{ exit !($5 > -30) }'
echo "scored with a SoundFont 3"
# a phone's HEIC photo: read through the bundled libheif, shown upright in an mp4
cp "$(dirname "$0")/../tests/data/coffee.heic" "$work/IMG_0001.HEIC"
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 "$app" score "$work/IMG_0001.HEIC" -o "$work/photo.mp4" \
    --duration 3 > /dev/null
"$ffmpeg" -nostdin -v error -i "$work/photo.mp4" -f null - 2> "$work/decode.txt"
[ ! -s "$work/decode.txt" ] && [ -s "$work/photo.mp4" ]
echo "scored a HEIC photo"
# a slideshow of the HEIC, a Display P3 JPEG (its colours through the bundled Little CMS), a portrait (framed on its
# face: the face detector's graphs built from the bundled weights), a photo with a GPS position (its day and town
# captioned) and the tiny video
cp "$(dirname "$0")/../tests/data/chelsea-p3.jpg" "$work/IMG_0002.jpg"
cp "$(dirname "$0")/../tests/data/astronaut.jpg" "$work/IMG_0003.jpg"
cp "$(dirname "$0")/../tests/data/coffee-rome.jpg" "$work/IMG_0004.jpg"  # its town named from the bundled data
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 "$app" score "$work/IMG_0001.HEIC" "$work/IMG_0002.jpg" \
    "$work/IMG_0003.jpg" "$work/IMG_0004.jpg" "$work/tiny.mp4" --slideshow --photo-seconds 1.5 --dates --places \
    -o "$work/slideshow.mp4" > /dev/null
"$ffmpeg" -nostdin -v error -i "$work/slideshow.mp4" -f null - 2> "$work/decode.txt"
[ ! -s "$work/decode.txt" ] && [ -s "$work/slideshow.mp4" ]
[ "$(ls "$COTVTM_CACHE"/mtcnn-*.onnx | wc -l)" -eq 3 ] && ls "$COTVTM_CACHE"/faces/*.json > /dev/null
echo "scored a slideshow"
"$ffmpeg" -nostdin -loglevel error -f lavfi -i testsrc2=size=160x90:rate=10 -t 130 -c:v libx264 -pix_fmt yuv420p \
    "$work/long.mp4"
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 timeout 300 "$app" score "$work/long.mp4" --json-progress \
    > "$work/long-events.txt"
[ "$(grep -c '"type": "segment_done"' "$work/long-events.txt")" -eq 13 ] && [ -s "$work/long.scored.mp4" ]
echo "scored 130 s in render worker processes"

# an OpenTimelineIO timeline of the tiny video, scored into a copy as FCP 7 XML (both of OpenTimelineIO's adapters)
cat > "$work/edit.otio" <<EOF
{"OTIO_SCHEMA": "Timeline.1", "name": "smoke", "tracks": {"OTIO_SCHEMA": "Stack.1", "children": [
 {"OTIO_SCHEMA": "Track.1", "kind": "Video", "children": [{"OTIO_SCHEMA": "Clip.2", "name": "tiny",
  "source_range": {"OTIO_SCHEMA": "TimeRange.1", "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 25, "value": 0},
                   "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 25, "value": 100}},
  "media_references": {"DEFAULT_MEDIA": {"OTIO_SCHEMA": "ExternalReference.1", "target_url": "$work/tiny.mp4"}},
  "active_media_reference_key": "DEFAULT_MEDIA"}]}]}}
EOF
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 "$app" project score "$work/edit.otio" -o "$work/edit.xml" > /dev/null
grep -q "edit.wav" "$work/edit.xml" && [ -s "$work/edit.wav" ]
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 "$app" score "$work/edit.otio" -o "$work/look.mp4" 2> /dev/null
"$ffmpeg" -nostdin -v error -i "$work/look.mp4" -f null - 2> "$work/decode.txt"
[ ! -s "$work/decode.txt" ] && [ -s "$work/look.mp4" ]
echo "scored an OpenTimelineIO timeline into FCP 7 XML, and into a preview with its picture"
printf 'TITLE: smoke\nFCM: NON-DROP FRAME\n\n001  AX       V     C        00:00:01:00 00:00:04:00 01:00:00:00 01:00:03:00\n* FROM CLIP NAME: tiny.mp4\n' \
    > "$work/cut.edl"
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 "$app" project score "$work/cut.edl" > /dev/null
grep -q "cut.scored.wav" "$work/cut.scored.xml" && [ -s "$work/cut.scored.wav" ]
echo "scored an EDL (its clip's file found by name) into FCP 7 XML"
mkdir -p "$work/trip.fcpxmld"  # Final Cut Pro's bundle, read by the product's own FCPXML code
cat > "$work/trip.fcpxmld/Info.fcpxml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.11"><resources>
 <format id="r1" frameDuration="1/25s" width="320" height="180"/>
 <asset id="r2" name="tiny" start="0s" duration="5s" hasVideo="1" format="r1"><media-rep kind="original-media" src="file://$work/tiny.mp4"/></asset>
</resources><library><event name="smoke"><project name="trip"><sequence format="r1" tcStart="0s"><spine>
 <asset-clip ref="r2" offset="0s" name="tiny" start="1s" duration="3s"/>
</spine></sequence></project></event></library></fcpxml>
EOF
COTVTM_MODELS="$work/no-models" HF_HUB_OFFLINE=1 "$app" project score "$work/trip.fcpxmld" > /dev/null
grep -q 'lane="-1"' "$work/trip.scored.fcpxml" && grep -q "trip.scored.wav" "$work/trip.scored.fcpxml" \
    && [ -s "$work/trip.scored.wav" ]
echo "scored a Final Cut Pro bundle into a copy with the music connected"

status=0
QT_QPA_PLATFORM=offscreen COTVTM_GUI_DATA="$work/gui" timeout 20 "$app" gui "$work/tiny.mp4" || status=$?
[ "$status" -eq 124 ] || { echo "the GUI did not stay up (exit status $status)"; exit 1; }
grep -q '"kind": "video"' "$work/gui/queue.json" || { echo "the GUI's child jobs did not run"; exit 1; }
echo "GUI: started, inspected the video, quit"

if [ -n "${2:-}" ]; then
    HF_HUB_OFFLINE=1 "$app" score "$work/tiny.mp4" -o "$work/neural.mp4" --backend neural --models "$2"
    [ -s "$work/neural.mp4" ]
fi
echo "smoke test passed"
