"""Join per-segment arrangements into one MIDI file for a DAW, with a tempo map that follows the segments."""

from __future__ import annotations

import pretty_midi

from cotvtm_desktop.music.mixdown import ROLE_PAN, ROLE_SEND, Room

RESOLUTION = 480
PAN, REVERB = 10, 91  # General MIDI's controllers for a channel's pan and its reverb send


def join_segments(clips: list[pretty_midi.PrettyMIDI], starts: list[float], tempos: list[float],
                  rooms: list[Room]) -> pretty_midi.PrettyMIDI:
    """One track per (role, instrument) over the whole video; a tempo change at each segment start, so the DAW's
    bar grid lines up with the music; each track panned and sent to the reverb as its part is in our mix (as the
    segment that first plays it has it: `rooms` holds each segment's), for a General MIDI player."""
    joined = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=tempos[0])
    # pretty_midi writes its tempo map from _tick_scales; it has no public setter for tempo changes.
    scales, tick = [], 0
    for i, (start, bpm) in enumerate(zip(starts, tempos)):
        if i:
            tick += round((start - starts[i - 1]) / scales[-1][1])
        scales.append((tick, 60.0 / (bpm * RESOLUTION)))
    joined._tick_scales = scales
    tracks: dict[tuple[str, int, bool], pretty_midi.Instrument] = {}
    for clip, start, room in zip(clips, starts, rooms):
        for instrument in clip.instruments:
            key = (instrument.name, instrument.program, instrument.is_drum)
            if key not in tracks:
                name = f"{instrument.name} ({pretty_midi.program_to_instrument_name(instrument.program)})" \
                    if not instrument.is_drum else "drums"
                tracks[key] = pretty_midi.Instrument(instrument.program, instrument.is_drum, name)
                pan = round(64 + 63 * ROLE_PAN.get(instrument.name, 0.0))
                send = round(127 * min(1.0, room.wet * ROLE_SEND.get(instrument.name, 0.0)))
                tracks[key].control_changes += [pretty_midi.ControlChange(PAN, pan, start),
                                                pretty_midi.ControlChange(REVERB, send, start)]
                joined.instruments.append(tracks[key])
            tracks[key].notes.extend(pretty_midi.Note(n.velocity, n.pitch, n.start + start, n.end + start)
                                     for n in instrument.notes)
    joined._update_tick_to_time(joined.time_to_tick(joined.get_end_time()) + 1)
    return joined
