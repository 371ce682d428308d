"""espeak-ng TTS cache of the simulator: 8 kHz WAV keyed by (voice, text), reused, one-sided renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from telephony.simulator.audio import SAMPLE_RATE, TtsCache, Turn, read_wav, render_dialogue


def test_speech_is_cached_as_8khz_wav_and_reused(tmp_path: Path) -> None:
    tts = TtsCache(tmp_path)
    pcm = tts.speech("en-us", "Testing one two three.")
    path = tts.path_for("en-us", "Testing one two three.")
    samples, rate = read_wav(path)
    assert rate == SAMPLE_RATE and np.array_equal(samples, pcm)
    assert 0.5 < pcm.size / SAMPLE_RATE < 5 and np.abs(pcm).max() > 1000
    # a second cache pointed at a broken espeak still answers from the file: no synthesis happened
    assert np.array_equal(TtsCache(tmp_path, espeak="/bin/false").speech("en-us", "Testing one two three."), pcm)
    with pytest.raises(RuntimeError, match="espeak-ng failed"):
        TtsCache(tmp_path, espeak="/bin/false").speech("en-us", "Something new.")


def test_one_sided_render_keeps_timing_and_silences_the_other_party(tmp_path: Path) -> None:
    tts = TtsCache(tmp_path)
    turns = [Turn("agent", "Good morning."), Turn("customer", "Hello there.")]
    voices = {"agent": "en-us+m3", "customer": "en-us+f3"}
    both, starts = render_dialogue(tts, turns, voices, 0.5)
    only_customer, c_starts = render_dialogue(tts, turns, voices, 0.5, speakers={"customer"})
    assert both.size == only_customer.size and len(starts) == 2 and c_starts == starts[1:]
    assert not only_customer[: starts[1]].any() and np.array_equal(only_customer[starts[1]:], both[starts[1]:])
    gap = both[starts[1] - int(0.5 * SAMPLE_RATE): starts[1]]
    assert not gap.any()
