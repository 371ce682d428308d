"""Speech for simulated calls: espeak-ng TTS cached as 8 kHz WAV, and a small G.711 codec.

G.711 follows ITU-T G.711 (the segment/quantisation tables every implementation derives from,
e.g. Sun's g711.c). Python 3.13 dropped ``audioop``, so the codec is ours, vectorised with numpy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

logger = logging.getLogger(__name__)

SAMPLE_RATE = 8000
_BIAS = 0x84  # mu-law bias (132) on the 16-bit scale, G.711 section 3


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit linear PCM -> G.711 mu-law bytes.

    Works on 14-bit values like the reference implementation (x >> 2 with floor, so negative
    magnitudes round up), which is also what audioop and most stacks produce bit for bit.
    """
    v = np.asarray(pcm, dtype=np.int32) >> 2
    sign = np.where(v < 0, 0x80, 0x00)
    mag = np.minimum(np.minimum(np.abs(v), 8159) + 0x21, 0x1FFF)  # 14-bit clip and bias (33)
    exponent = np.clip(np.floor(np.log2(mag)).astype(np.int32) - 5, 0, 7)
    mantissa = (mag >> (exponent + 1)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes -> 16-bit linear PCM."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -mag, mag).astype(np.int16)


def alaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit linear PCM -> G.711 A-law bytes (even bits inverted with 0x55, G.711 table 1a)."""
    x = np.asarray(pcm, dtype=np.int32) >> 3  # A-law works on 13-bit magnitudes
    sign = np.where(x >= 0, 0x80, 0x00)
    mag = np.where(x >= 0, x, -x - 1)
    mag = np.minimum(mag, 0xFFF)
    exponent = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4)
    exponent = np.clip(exponent, 0, 7)
    mantissa = np.where(exponent == 0, mag >> 1, mag >> exponent) & 0x0F
    code = (sign | (exponent << 4) | mantissa) ^ 0x55
    return code.astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """G.711 A-law bytes -> 16-bit linear PCM."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    mag = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, mag, -mag).astype(np.int16)


ENCODERS = {"ulaw": ulaw_encode, "alaw": alaw_encode}
DECODERS = {"ulaw": ulaw_decode, "alaw": alaw_decode}
PAYLOAD_TYPES = {"ulaw": 0, "alaw": 8}  # RFC 3551 table 4


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit WAV -> (samples, rate)."""
    with wave.open(str(path), "rb") as wf:
        if wf.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit samples, got {8 * wf.getsampwidth()}-bit")
        frames = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2")
        channels = wf.getnchannels()
        if channels > 1:
            frames = frames.reshape(-1, channels).mean(axis=1).astype(np.int16)
        return frames, wf.getframerate()


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    with wave.open(str(tmp), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    tmp.replace(path)  # atomic: concurrent simulators never read half a file


class TtsCache:
    """espeak-ng speech at 8 kHz, cached under ``root`` by a hash of (voice, speed, text)."""

    def __init__(self, root: Path, espeak: str = "espeak-ng") -> None:
        self.root = root
        self.espeak = espeak

    def path_for(self, voice: str, text: str, speed: int = 160) -> Path:
        digest = hashlib.sha256(f"{voice}\x00{speed}\x00{text}".encode()).hexdigest()[:32]
        return self.root / f"{digest}.wav"

    def speech(self, voice: str, text: str, speed: int = 160) -> np.ndarray:
        path = self.path_for(voice, text, speed)
        if not path.exists():
            self._synthesize(voice, text, speed, path)
        samples, rate = read_wav(path)
        if rate != SAMPLE_RATE:  # a cache written by something else; still usable
            samples = _resample(samples, rate)
        return samples

    def _synthesize(self, voice: str, text: str, speed: int, path: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.wav"
            cmd = [self.espeak, "-v", voice, "-s", str(speed), "-w", str(raw), "--", text]
            proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
            if proc.returncode != 0 or not raw.exists():
                raise RuntimeError(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:200]}")
            samples, rate = read_wav(raw)
        write_wav(path, _resample(samples, rate))
        logger.info("tts cached %s (%d chars, voice %s)", path.name, len(text), voice)


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples
    out = soxr.resample(samples.astype(np.float32), rate, SAMPLE_RATE, quality="HQ")
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class Turn:
    speaker: str  # "customer" | "agent"
    text: str


def render_dialogue(
    tts: TtsCache, turns: list[Turn], voices: dict[str, str], gap_s: float, speakers: set[str] | None = None
) -> tuple[np.ndarray, list[int]]:
    """The call's audio as one 8 kHz track and the sample offsets where each talk spurt starts.

    Turns by speakers outside ``speakers`` become silence of the same length, so a one-sided
    snoop (spy=in / out) keeps the conversation's timing.
    """
    gap = np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.int16)
    parts: list[np.ndarray] = []
    starts: list[int] = []
    offset = 0
    for i, turn in enumerate(turns):
        if i:
            parts.append(gap)
            offset += gap.size
        speech = tts.speech(voices.get(turn.speaker, "en-us"), turn.text)
        if speakers is not None and turn.speaker not in speakers:
            speech = np.zeros_like(speech)
        else:
            starts.append(offset)
        parts.append(speech)
        offset += speech.size
    if not parts:
        return np.zeros(0, dtype=np.int16), []
    return np.concatenate(parts), starts
