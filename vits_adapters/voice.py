"""Voice: a loaded generator with its report and text frontend, ready to synthesize and to save."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .audio.waveform import Audio, assert_audible
from .errors import InvalidInputError, SpeakerEmbeddingRequiredError
from .arch.vits.hparams import VitsHParams
from .arch.vits.generator import InferenceStages, VitsGenerator
from .report import LoadReport
from .components.chunked import DEFAULT_CHUNK_FRAMES, decode_in_chunks, decoder_context_frames
from .text.frontend import ORIGINAL_VITS_SYMBOLS, TextFrontend


def _frontend(
    hparams: VitsHParams, settings: dict[str, Any], files: dict[str, Path], format: str
) -> tuple[TextFrontend | None, str]:
    """The voice's text front-end, and what was assumed to pick it ("" when it was read from the files)."""
    if "symbols" in settings or settings.get("kind") in ("symbols", "transformers", "piper", "coqui"):
        return TextFrontend.from_dict(settings), ""
    if "piper" in settings:
        return TextFrontend.from_piper_config(settings["piper"]), ""
    if "coqui" in settings:
        return TextFrontend.from_coqui_config(settings["coqui"]), ""
    if "vocab.json" in files:
        return TextFrontend.from_transformers_files(files["vocab.json"], files.get("tokenizer_config.json")), ""
    if format == "vits-original" and hparams.n_vocab == len(ORIGINAL_VITS_SYMBOLS):
        # The original trainer keeps its symbol table in code; only its layout, with 178 entries, means that table.
        cleaners = tuple(settings.get("cleaners", ("english_cleaners2",)))
        add_blank = bool(settings.get("add_blank", True))
        guessed = [] if "cleaners" in settings else [f"cleaners {list(cleaners)}"]
        guessed += [] if "add_blank" in settings else [f"add_blank={add_blank}"]
        # With the trainer's config beside it, the table is the layout's own; without, the text settings are guesses.
        why = (
            "the original VITS 178-symbol table (the trainer keeps it in code) with "
            f"{' and '.join(guessed)} (the ljs_base config's)" if guessed else ""
        )
        return TextFrontend.original_vits(cleaners=cleaners, add_blank=add_blank), why
    return None, ""


# Where each layout keeps the symbol table that text is encoded with.
_SYMBOL_TABLE_SOURCES = {
    "transformers": "vocab.json (and tokenizer_config.json) beside the weights",
    "piper": "the voice's .onnx.json (phoneme_id_map)",
    "coqui": "the config's 'characters' section",
}
_SYNTHESIS_DEFAULTS = {"noise_scale": 0.667, "noise_scale_w": 0.8, "length_scale": 1.0}


class Voice:
    """A VITS voice: ``generator`` (torch module), ``config`` (hyperparameters), ``report``, ``sample_rate``."""

    def __init__(
        self,
        *,
        generator: VitsGenerator,
        report: LoadReport,
        text_settings: dict[str, Any] | None = None,
        text_files: dict[str, Path] | None = None,
        synthesis_defaults: dict[str, float] | None = None,
        source_config: dict[str, Any] | None = None,
    ) -> None:
        self.generator = generator
        self.text_settings = dict(text_settings or {})
        self.frontend, assumed = _frontend(generator.hparams, self.text_settings, dict(text_files or {}), report.format)
        self.report = replace(report, assumed={**report.assumed, "text_frontend": assumed}) if assumed else report
        self.synthesis_defaults = {**_SYNTHESIS_DEFAULTS, **(synthesis_defaults or {})}
        self.source_config = dict(source_config or {})  # {"format", "config"}: lets a layout be written back

    @property
    def config(self) -> VitsHParams:
        """The generator's hyperparameters."""
        return self.generator.hparams

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.generator.hparams.sampling_rate

    def __repr__(self) -> str:
        hp = self.config
        speakers = f", {hp.n_speakers} speakers" if hp.multi_speaker else ""
        return f"Voice(format={self.report.format!r}, {self.sample_rate} Hz, vocab {hp.n_vocab}{speakers})"

    def encode(self, text: str) -> list[int]:
        """Token ids for ``text`` through the checkpoint's own symbol table and cleaners."""
        if self.frontend is None:
            where = _SYMBOL_TABLE_SOURCES.get(self.report.format)
            hint = f" (this layout keeps it in {where}, which was not found)" if where else ""
            raise InvalidInputError(
                f"this checkpoint ({self.report.format}, vocabulary of {self.config.n_vocab}) carries no symbol table"
                f"{hint}; pass token_ids=[...] instead of text"
            )
        return list(self.frontend.encode(text).token_ids)

    def _check_tokens(self, token_ids: Sequence[int]) -> list[int]:
        ids = [int(t) for t in token_ids]
        if not ids:
            raise InvalidInputError("the token sequence is empty: nothing to synthesize")
        bad = sorted({t for t in ids if not 0 <= t < self.config.n_vocab})
        if bad:
            raise InvalidInputError(
                f"token id(s) {bad[:10]} are outside the vocabulary (0..{self.config.n_vocab - 1})"
            )
        return ids

    def _check_speaker(self, speaker_id: int | None) -> torch.Tensor | None:
        n = self.config.n_speakers
        if not self.config.multi_speaker:
            if speaker_id is not None:
                raise InvalidInputError(f"this is a single-speaker model; do not pass speaker_id (got {speaker_id})")
            return None
        if speaker_id is None:
            raise InvalidInputError(f"this model has {n} speakers: pass speaker_id (0..{n - 1})")
        if isinstance(speaker_id, bool) or not isinstance(speaker_id, int) or not 0 <= speaker_id < n:
            raise InvalidInputError(f"speaker_id must be an integer in 0..{n - 1}, got {speaker_id!r}")
        return torch.tensor([speaker_id], device=self.device)

    def _check_embedding(self, embedding: Sequence[float] | torch.Tensor | None) -> torch.Tensor | None:
        gin = self.config.gin_channels
        if not self.config.external_speaker:
            if embedding is not None:
                raise InvalidInputError(
                    "this voice takes no external speaker embedding"
                    + (f" (it has {self.config.n_speakers} speakers: pass speaker_id)" if self.config.multi_speaker else "")
                )
            return None
        if embedding is None:
            raise SpeakerEmbeddingRequiredError(
                f"this voice is conditioned on a {gin}-dim speaker embedding (gin_channels={gin}) but the checkpoint "
                "has no speaker table: it expects an external speaker embedding (a YourTTS-style d-vector from a "
                f"speaker encoder); pass speaker_embedding=[{gin} floats]"
            )
        vector = torch.as_tensor(embedding, dtype=torch.float32, device=self.device).reshape(-1)
        if vector.numel() != gin or not bool(torch.isfinite(vector).all()):
            raise InvalidInputError(f"speaker_embedding must hold {gin} finite floats, got {vector.numel()} values")
        return vector.unsqueeze(0)

    @property
    def device(self) -> torch.device:
        """The generator's device."""
        return next(self.generator.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype of the decoder (float32, or bfloat16 when loaded with ``dtype=torch.bfloat16``)."""
        return self.generator.decoder.conv_pre.weight.dtype

    def _infer(
        self,
        text: str | None,
        token_ids: Sequence[int] | None,
        speaker_id: int | None,
        embedding: Sequence[float] | torch.Tensor | None,
        scales: dict[str, float | None],
        seed: int | None,
        *,
        decode: bool,
    ) -> InferenceStages:
        if (text is None) == (token_ids is None):
            raise InvalidInputError("pass exactly one of text or token_ids")
        ids = self._check_tokens(self.encode(text) if text is not None else token_ids)
        speakers = self._check_speaker(speaker_id)
        vector = self._check_embedding(embedding)
        generator = torch.Generator(device=self.device)
        if seed is not None:
            generator.manual_seed(seed)
        else:
            generator.seed()
        chosen = {name: self.synthesis_defaults[name] if value is None else value for name, value in scales.items()}
        with torch.inference_mode():
            return self.generator.infer(
                torch.tensor([ids], device=self.device),
                speaker_ids=speakers,
                generator=generator,
                decode=decode,
                speaker_embedding=vector,
                **chosen,
            )

    def synthesize(
        self,
        text: str | None = None,
        *,
        token_ids: Sequence[int] | None = None,
        speaker_id: int | None = None,
        speaker_embedding: Sequence[float] | torch.Tensor | None = None,
        noise_scale: float | None = None,
        noise_scale_w: float | None = None,
        length_scale: float | None = None,
        seed: int | None = None,
        check: bool = True,
    ) -> Audio:
        """Synthesize ``text`` (through the symbol table) or ``token_ids`` (fed exactly as given).

        Scales left as None take the checkpoint's configured defaults (transformers' ``noise_scale``,
        ``noise_scale_duration`` and ``1 / speaking_rate``), else VITS's 0.667, 0.8 and 1.0.

        ``speaker_embedding`` (``gin_channels`` floats) is required by, and only accepted for, a voice conditioned on
        speakers without a speaker table of its own (an external d-vector, YourTTS-style).

        With ``seed`` the output is reproducible. With ``check`` (default) silent or non-finite output raises
        :class:`SilentOutputError`.

        Raises:
            InvalidInputError: neither or both of text/token_ids, unknown symbols, ids or speaker out of range.
            SpeakerEmbeddingRequiredError: the voice expects an external speaker embedding and none was passed.
            SilentOutputError: the waveform is silent, too short or not finite.
        """
        scales = {"noise_scale": noise_scale, "noise_scale_w": noise_scale_w, "length_scale": length_scale}
        stages = self._infer(text, token_ids, speaker_id, speaker_embedding, scales, seed, decode=True)
        waveform = stages.waveform[0, 0].float().cpu().numpy()
        audio = Audio(waveform, self.sample_rate)
        if check:
            assert_audible(audio)
        return audio

    def synthesize_stream(
        self,
        text: str | None = None,
        *,
        token_ids: Sequence[int] | None = None,
        speaker_id: int | None = None,
        speaker_embedding: Sequence[float] | torch.Tensor | None = None,
        noise_scale: float | None = None,
        noise_scale_w: float | None = None,
        length_scale: float | None = None,
        seed: int | None = None,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ) -> Iterator[Audio]:
        """Like :meth:`synthesize`, but yield the audio in chunks as the decoder produces them.

        Text encoding, durations and the flow run once for the whole utterance (they are a few percent of the cost);
        the decoder then runs on ``chunk_frames`` latent frames at a time (``chunk_frames * hop_length`` samples),
        each with enough neighbouring frames for its receptive field, so the concatenated chunks equal
        :meth:`synthesize`'s output for the same arguments and seed (up to float rounding) and the first audio
        arrives after a fraction of the full synthesis time. The silence check of :meth:`synthesize` is not applied:
        it needs the whole clip.

        Raises:
            InvalidInputError: as :meth:`synthesize`, or ``chunk_frames`` below 1 (raised by the call itself, which
                also runs everything before the decoder; iterating runs the decoder).

        Example:
            >>> for chunk in voice.synthesize_stream("A long paragraph...", seed=0):  # doctest: +SKIP
            ...     player.write(chunk.waveform)
        """
        if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
            raise InvalidInputError(f"chunk_frames must be a positive integer, got {chunk_frames!r}")
        scales = {"noise_scale": noise_scale, "noise_scale_w": noise_scale_w, "length_scale": length_scale}
        stages = self._infer(text, token_ids, speaker_id, speaker_embedding, scales, seed, decode=False)
        vector = self._check_embedding(speaker_embedding)
        with torch.inference_mode():
            speakers = self._check_speaker(speaker_id)
            g = self.generator.speaker_embedding(speakers) if vector is None else vector.unsqueeze(-1)
        chunks = decode_in_chunks(
            self.generator.decoder,
            stages.z,  # batch of one: every frame is inside the utterance, so no mask is needed
            g,
            hop_length=self.config.hop_length,
            context_frames=decoder_context_frames(self.config),
            chunk_frames=chunk_frames,
        )
        return self._audio_chunks(chunks)

    def _audio_chunks(self, chunks: Iterator[torch.Tensor]) -> Iterator[Audio]:
        while True:
            # Inference mode per chunk, never held across a yield (it is thread-local state of the caller).
            with torch.inference_mode():
                waveform = next(chunks, None)
            if waveform is None:
                return
            yield Audio(waveform[0, 0].float().cpu().numpy(), self.sample_rate)

    def save_pretrained(
        self,
        directory: str | Path,
        *,
        format: str = "vits-adapters",
        weight_norm: str | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """Write the voice as ``format`` ("vits-adapters", "vits-original", "transformers", "piper" or "coqui").

        ``weight_norm`` ("plain", "legacy" or "parametrized") sets the form of the weight-norm layers. The default is
        each layout's own: legacy for the original trainer and Piper, parametrized WaveNet (plain decoder) for
        transformers, and for ours whatever the generator holds (plain when folded, g/v pairs in keep mode), so a
        voice loaded with ``weight_norm="keep"`` converts without recomposing any weight.
        """
        from .formats.writer import export_voice

        return export_voice(self, Path(directory), format=format, weight_norm=weight_norm, overwrite=overwrite)
