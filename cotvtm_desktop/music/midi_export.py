"""Join per-segment arrangements into one MIDI file for a DAW, with a tempo map that follows the segments."""

from __future__ import annotations

import pretty_midi

RESOLUTION = 480


def join_segments(clips: list[pretty_midi.PrettyMIDI], starts: list[float],
                  tempos: list[float]) -> pretty_midi.PrettyMIDI:
    """One track per (role, instrument) over the whole video; a tempo change at each segment start, so the DAW's
    bar grid lines up with the music."""
    joined = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=tempos[0])
    # pretty_midi writes its tempo map from _tick_scales; it has no public setter for tempo changes.
    scales, tick = [], 0
    for i, (start, bpm) in enumerate(zip(starts, tempos)):
        if i:
            tick += round((start - starts[i - 1]) / scales[-1][1])
        scales.append((tick, 60.0 / (bpm * RESOLUTION)))
    joined._tick_scales = scales
    tracks: dict[tuple[str, int, bool], pretty_midi.Instrument] = {}
    for clip, start in zip(clips, starts):
        for instrument in clip.instruments:
            key = (instrument.name, instrument.program, instrument.is_drum)
            if key not in tracks:
                name = f"{instrument.name} ({pretty_midi.program_to_instrument_name(instrument.program)})" \
                    if not instrument.is_drum else "drums"
                tracks[key] = pretty_midi.Instrument(instrument.program, instrument.is_drum, name)
                joined.instruments.append(tracks[key])
            tracks[key].notes.extend(pretty_midi.Note(n.velocity, n.pitch, n.start + start, n.end + start)
                                     for n in instrument.notes)
    joined._update_tick_to_time(joined.time_to_tick(joined.get_end_time()) + 1)
    return joined
