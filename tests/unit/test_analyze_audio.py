"""The energy sub-score from the job's WAV audio, on speech made with espeak-ng and ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_analyze_support import SOFTWARE, ffmpeg, joined_wav, options, speech_wav, timed_transcript, wav_seconds

from clipforge.analyze.audio import SILENCE_DBFS, AudioUnreadable, read_loudness
from clipforge.analyze.core import find_highlights
from clipforge.analyze.signals import ENERGY, energy


@pytest.fixture(scope="module")
def sentences_wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The first four SOFTWARE sentences spoken at full level and again 12 dB quieter."""
    folder = tmp_path_factory.mktemp("speech")
    return {
        "loud": [speech_wav(text, folder / f"loud-{i}.wav") for i, text in enumerate(SOFTWARE[:4])],
        "quiet": [speech_wav(text, folder / f"quiet-{i}.wav", gain_db=-12) for i, text in enumerate(SOFTWARE[:4])],
    }


def test_loudness_track_covers_the_recording(sentences_wavs: dict[str, list[Path]]) -> None:
    path = sentences_wavs["loud"][0]
    track = read_loudness(path)
    assert track.duration == pytest.approx(wav_seconds(path), abs=track.frame_seconds)
    assert -40.0 < track.typical_db < -5.0
    whole = track.window(0.0, track.duration)
    assert 0.6 * track.duration < whole.voiced_seconds <= track.duration
    assert whole.spread_db > 2.0


def test_quieter_speech_reads_quieter_by_the_gain(sentences_wavs: dict[str, list[Path]]) -> None:
    loud = read_loudness(sentences_wavs["loud"][1])
    quiet = read_loudness(sentences_wavs["quiet"][1])
    assert loud.typical_db - quiet.typical_db == pytest.approx(12.0, abs=1.0)


@pytest.mark.parametrize(("codec", "tolerance_db"), [("pcm_s16le", 0.5), ("pcm_u8", 4.0)])
def test_other_wav_layouts_read_the_same(
    sentences_wavs: dict[str, list[Path]], tmp_path: Path, codec: str, tolerance_db: float
) -> None:
    source = sentences_wavs["loud"][2]
    stereo = tmp_path / f"stereo-{codec}.wav"
    # An explicit pan: ffmpeg's default mono-to-stereo mix would lower each channel by 3 dB.
    ffmpeg("-i", str(source), "-af", "pan=stereo|c0=c0|c1=c0", "-ar", "44100", "-c:a", codec, str(stereo))
    reference, other = read_loudness(source), read_loudness(stereo)
    assert other.duration == pytest.approx(reference.duration, abs=0.15)
    # 8-bit samples lift the noise floor, so more quiet frames count as speech.
    assert other.typical_db == pytest.approx(reference.typical_db, abs=tolerance_db)


def test_silence_has_no_energy(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", "-c:a", "pcm_s16le", str(silent))
    track = read_loudness(silent)
    assert track.typical_db == SILENCE_DBFS
    score = energy(track, 0.0, 3.0)
    assert score.value == 0.0 and "no audible speech" in score.explanation


def test_louder_livelier_speech_has_more_energy(sentences_wavs: dict[str, list[Path]], tmp_path: Path) -> None:
    parts = [sentences_wavs["loud"][0], sentences_wavs["quiet"][1], sentences_wavs["loud"][2]]
    parts += [sentences_wavs["quiet"][i] for i in range(4)]
    track = read_loudness(joined_wav(parts, tmp_path / "mixed.wav"))
    lively_end = sum(wav_seconds(p) for p in parts[:3])
    lively, flat = energy(track, 0.0, lively_end), energy(track, lively_end, track.duration)
    assert lively.value > flat.value + 20
    assert "above the video's usual level" in lively.explanation
    assert "below the video's usual level" in flat.explanation


def test_energy_decides_between_two_readings_of_the_same_words(
    sentences_wavs: dict[str, list[Path]], tmp_path: Path
) -> None:
    # The same four sentences read twice: first at full voice, then 12 dB quieter. Only the audio differs.
    parts = sentences_wavs["loud"] + sentences_wavs["quiet"]
    audio = joined_wav(parts, tmp_path / "audio.wav")
    transcript = timed_transcript(SOFTWARE[:4] * 2, [wav_seconds(p) for p in parts])
    opts = options(max_clips=2, min_clip_seconds=10, max_clip_seconds=30)

    best, second = find_highlights(transcript, opts, audio_path=audio)
    half = sum(wav_seconds(p) for p in parts[:4])
    assert best.end <= half < second.start
    assert best.sub_scores[ENERGY] > second.sub_scores[ENERGY] + 20
    assert {k: v for k, v in best.sub_scores.items() if k != ENERGY} == {
        k: v for k, v in second.sub_scores.items() if k != ENERGY
    }
    assert best.score > second.score


def test_an_unreadable_track_leaves_energy_out(tmp_path: Path) -> None:
    bogus = tmp_path / "audio.wav"
    bogus.write_bytes(b"this is not a wav file at all")
    with pytest.raises(AudioUnreadable):
        read_loudness(bogus)
    transcript = timed_transcript(SOFTWARE[:4], [4.0, 5.0, 4.5, 4.5])
    for audio_path in (bogus, tmp_path / "missing.wav"):
        [highlight] = find_highlights(transcript, options(max_clips=1), audio_path=audio_path)
        assert ENERGY not in highlight.sub_scores and highlight.sub_scores
