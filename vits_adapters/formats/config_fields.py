"""Which config fields of each foreign layout are known not to shape the generator, and why; the rest are refused.

The names are facts read from the upstream config classes (see each table); a field in neither a reader's "read"
set nor its table here may change the voice, so it is refused unless the caller passes ``strict=False``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ..errors import UnknownConfigFieldError, format_keys

UNKNOWN_REASON = "UNKNOWN field: not read and not known to be inert; loaded anyway because strict=False"

_DROPOUT = "dropout or initialisation: training only"
_OPTIMISER = "optimiser, learning-rate schedule or loss weight: training only"
_DISCRIMINATOR = "discriminator: training only"
_DATA = "dataset, data loading or segment slicing: training only"
_TRAINER = "trainer bookkeeping (logging, checkpoints, devices, precision): training only"
_METADATA = "library metadata (versions, class names, stored dtype): does not shape the generator"
_FEATURES = "spectrogram/mel extraction for training; the generator's sizes come from the fields read"
_POSTERIOR_LAYERS = "posterior layers are hard-coded to 16"


def _same(reason: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, reason)


# transformers: VitsConfig's own training fields, then PretrainedConfig's common attributes (4.x __init__ and 5.x
# dataclass fields) and the legacy generation parameters it still accepts.
TRANSFORMERS_INERT: dict[str, str] = {
    **_same(
        _DROPOUT, "layerdrop", "hidden_dropout", "attention_dropout", "activation_dropout", "initializer_range",
        "wavenet_dropout", "duration_predictor_dropout",
    ),
    **_same(
        _METADATA, "architectures", "transformers_version", "torch_dtype", "dtype", "_name_or_path", "_commit_hash",
        "_attn_implementation_autoset",
    ),
    **_same(
        "tokenizer setting: the generator receives token ids", "pad_token_id", "bos_token_id", "eos_token_id",
        "sep_token_id", "decoder_start_token_id", "tokenizer_class", "prefix",
    ),
    **_same(
        "classification-head or fine-tuning-task setting: VitsModel has no such head", "id2label", "label2id",
        "num_labels", "problem_type", "finetuning_task", "task_specific_params",
    ),
    **_same(
        "transformers runtime switch that VitsModel's synthesis does not use", "output_attentions",
        "output_hidden_states", "return_dict", "torchscript", "use_bfloat16", "tf_legacy_loss", "pruned_heads",
        "tie_word_embeddings", "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder",
        "cross_attention_hidden_size", "add_cross_attention", "tie_encoder_decoder", "use_cache",
        "gradient_checkpointing",
    ),
    **_same(
        "text-generation setting (GenerationConfig): VITS does not generate token by token",
        "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
        "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "epsilon_cutoff", "eta_cutoff",
        "repetition_penalty", "encoder_repetition_penalty", "length_penalty", "no_repeat_ngram_size",
        "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
        "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
        "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "num_assistant_tokens",
        "num_assistant_tokens_schedule", "assistant_confidence_threshold", "assistant_lookbehind",
        "target_lookbehind",
    ),
}

# Original VITS trainer (jaywalnut310/vits configs/*.json): the train section feeds train.py only.
ORIGINAL_INERT: dict[str, dict[str, str]] = {
    "train": {
        **_same(
            _OPTIMISER, "learning_rate", "betas", "eps", "lr_decay", "init_lr_ratio", "warmup_epochs", "c_mel",
            "c_kl",
        ),
        **_same(_DATA, "batch_size", "segment_size"),
        **_same(_TRAINER, "log_interval", "eval_interval", "seed", "epochs", "fp16_run"),
    },
    "data": {
        **_same(_DATA, "training_files", "validation_files", "max_wav_value"),
        **_same(_FEATURES, "win_length", "n_mel_channels", "mel_fmin", "mel_fmax"),
    },
    "model": {"n_layers_q": _POSTERIOR_LAYERS, "use_spectral_norm": _DISCRIMINATOR},
}

# Piper: VitsModel.__init__ arguments (piper_train 1.x and piper.train 1.3+), piper_train's own command-line
# options and the pytorch-lightning 1.7 Trainer options it passes through, and LightningCLI's entries.
PIPER_INERT: dict[str, str] = {
    "n_layers_q": _POSTERIOR_LAYERS,
    "use_spectral_norm": _DISCRIMINATOR,
    "use_mrd": _DISCRIMINATOR,
    **_same(_FEATURES, "win_length", "mel_channels", "mel_fmin", "mel_fmax", "sample_bytes", "channels"),
    **_same(
        _OPTIMISER, "learning_rate", "learning_rate_d", "betas", "betas_d", "eps", "lr_decay", "lr_decay_d",
        "lr_final_ratio", "init_lr_ratio", "warmup_epochs", "c_mel", "c_kl", "grad_clip",
    ),
    **_same(
        _DATA, "batch_size", "segment_size", "dataset", "dataset_dir", "num_workers", "num_test_examples",
        "validation_split", "max_phoneme_ids",
    ),
    **_same(
        "warm-start checkpoint path or validation metric: training only", "vocoder_warmstart_ckpt",
        "warmstart_ckpt", "mos_metric", "resume_from_single_speaker_checkpoint",
    ),
    "quality": "training size preset: the sizes it chose are stored in the fields read",
    **_same(_METADATA, "_instantiator", "_class_path"),
    **_same(
        _TRAINER, "seed", "checkpoint_epochs", "save_top_k", "accelerator", "accumulate_grad_batches",
        "amp_backend", "amp_level", "auto_lr_find", "auto_scale_batch_size", "auto_select_gpus", "benchmark",
        "callbacks", "check_val_every_n_epoch", "default_root_dir", "detect_anomaly", "deterministic", "devices",
        "enable_checkpointing", "enable_model_summary", "enable_progress_bar", "fast_dev_run", "gpus",
        "gradient_clip_algorithm", "gradient_clip_val", "ipus", "limit_predict_batches", "limit_test_batches",
        "limit_train_batches", "limit_val_batches", "log_every_n_steps", "logger", "max_epochs", "max_steps",
        "max_time", "min_epochs", "min_steps", "move_metrics_to_cpu", "multiple_trainloader_mode", "num_nodes",
        "num_processes", "num_sanity_val_steps", "overfit_batches", "plugins", "precision", "profiler",
        "reload_dataloaders_every_n_epochs", "replace_sampler_ddp", "resume_from_checkpoint", "strategy",
        "sync_batchnorm", "tpu_cores", "track_grad_norm", "val_check_interval", "weights_save_path",
    ),
}

_LANGUAGES = "language embedding: only used with use_language_embedding, which is refused when true"
_D_VECTORS = "external speaker embeddings: only used with use_d_vector_file, which is refused when true"
_SPEAKER_MANAGER = "trainer's speaker/language manager setting: the model builds from model_args"
_SPEAKER_WIDTH = "speaker embedding width: read from the emb_g tensor, not the config"

# Coqui (coqui-ai TTS 0.22, coqui-tts 0.27 and 0.28): VitsArgs, BaseAudioConfig / VitsAudioConfig, and VitsConfig
# with its bases BaseTTSConfig, BaseTrainingConfig and the trainer's TrainerConfig (plus what the trainer adds).
COQUI_INERT: dict[str, dict[str, str]] = {
    "model_args": {
        **_same(_DROPOUT, "dropout_p_duration_predictor", "dropout_p_text_encoder"),
        **_same(
            "fine-tuning switch (freeze, re-initialise, gradient detach): training only", "detach_dp_input",
            "freeze_DP", "freeze_PE", "freeze_encoder", "freeze_flow_decoder", "freeze_waveform_decoder",
            "reinit_DP", "reinit_text_encoder",
        ),
        **_same(
            _DISCRIMINATOR, "init_discriminator", "periods_multi_period_discriminator",
            "use_spectral_norm_disriminator",
        ),
        "spec_segment_size": _DATA,
        **_same(
            "speaker-encoder loss: training only", "use_speaker_encoder_as_loss", "speaker_encoder_config_path",
            "speaker_encoder_model_path",
        ),
        **_same(
            "training-time noise scale: synthesis uses inference_noise_scale and inference_noise_scale_dp",
            "noise_scale", "noise_scale_dp",
        ),
        "max_inference_len": "cap on synthesized frames in Coqui's inference: not applied by vits-adapters",
        **_same(_LANGUAGES, "embedded_language_dim", "language_ids_file", "num_languages"),
        **_same(_D_VECTORS, "d_vector_dim", "d_vector_file"),
        "speakers_file": "speaker-name file of the trainer: the speaker count comes from num_speakers/speakers",
        "speaker_embedding_channels": _SPEAKER_WIDTH,
    },
    "audio": _same(
        _FEATURES, "fft_size", "win_length", "num_mels", "mel_fmin", "mel_fmax", "frame_length_ms",
        "frame_shift_ms", "stft_pad_mode", "resample", "preemphasis", "ref_level_db", "do_sound_norm",
        "log_func", "do_trim_silence", "trim_db", "do_rms_norm", "db_level", "power", "griffin_lim_iters",
        "spec_gain", "do_amp_to_db_linear", "do_amp_to_db_mel", "pitch_fmax", "pitch_fmin", "signal_norm",
        "min_level_db", "symmetric_norm", "max_norm", "clip_norm", "stats_path",
    ),
    "": {
        "model": "Coqui model name: the format is detected from the tensors",
        "r": "decoder reduction factor of other Coqui models: VITS has none",
        "_supports_cloning": "Coqui API capability flag: does not shape the generator",
        **_same(
            "phonemizer setting: use_phonemes voices take phonemes, nothing is phonemized here", "phonemizer",
            "phoneme_language", "phoneme_cache_path",
        ),
        **_same(_LANGUAGES, "languages", "language_ids_file", "use_language_embedding"),
        **_same(_D_VECTORS, "d_vector_dim", "d_vector_file", "use_d_vector_file"),
        **_same(_SPEAKER_MANAGER, "use_speaker_embedding", "speakers_file", "num_speakers"),
        "speaker_embedding_channels": _SPEAKER_WIDTH,
        **_same(
            _OPTIMISER, "lr", "lr_gen", "lr_disc", "lr_scheduler", "lr_scheduler_params", "lr_scheduler_gen",
            "lr_scheduler_gen_params", "lr_scheduler_disc", "lr_scheduler_disc_params", "optimizer",
            "optimizer_params", "scheduler_after_epoch", "grad_clip", "kl_loss_alpha", "disc_loss_alpha",
            "gen_loss_alpha", "feat_loss_alpha", "mel_loss_alpha", "dur_loss_alpha", "speaker_encoder_loss_alpha",
            "target_loss", "loss_masking",
        ),
        **_same(
            _DATA, "datasets", "batch_size", "eval_batch_size", "batch_group_size", "drop_last", "shuffle",
            "min_audio_len", "max_audio_len", "min_text_len", "max_text_len", "compute_f0", "compute_energy",
            "compute_linear_spec", "compute_input_seq_cache", "return_wav", "use_noise_augment",
            "precompute_num_workers", "num_loader_workers", "num_eval_loader_workers", "eval_split_size",
            "eval_split_max_size", "start_by_longest", "use_weighted_sampler", "weighted_sampler_attrs",
            "weighted_sampler_multipliers", "use_speaker_weighted_sampler", "speaker_weighted_sampler_alpha",
            "use_language_weighted_sampler", "language_weighted_sampler_alpha", "use_length_weighted_sampler",
            "length_weighted_sampler_alpha",
        ),
        **_same(
            _TRAINER, "output_path", "run_name", "run_description", "project_name", "wandb_entity",
            "dashboard_logger", "logger_uri", "epochs", "print_step", "plot_step", "log_model_step",
            "model_param_stats", "save_step", "save_n_checkpoints", "save_checkpoints", "save_all_best",
            "save_best_after", "save_on_interrupt", "run_eval", "run_eval_steps", "print_eval",
            "test_delay_epochs", "test_sentences", "test_sentences_file", "training_seed", "mixed_precision",
            "precision", "use_grad_scaler", "allow_tf32", "cudnn_enable", "cudnn_deterministic",
            "cudnn_benchmark", "distributed_backend", "distributed_url", "github_branch", "restore_path",
        ),
    },
}


def ignored_fields(
    sections: Iterable[tuple[str, Mapping[str, Any], Collection[str], Mapping[str, str]]],
    *,
    source: str,
    strict: bool,
) -> dict[str, str]:
    """The config fields no reader uses, each with its reason; refuses unknown ones unless ``strict`` is False.

    Args:
        sections: ``(label prefix, section, fields read, inert fields with reasons)`` per config section; the
            prefix names the section as the user's file does (``"model_args."``, ``"hyper_parameters."``, ``""``).
        source: the config's name for messages.
        strict: refuse fields that are neither read nor known to be inert (default on every load path).

    Returns:
        ``{field as written in the file: reason}`` for every field not read (unknown ones only when not strict).

    Raises:
        UnknownConfigFieldError: strict and some field is unknown; it lists them all.
    """
    ignored: dict[str, str] = {}
    unknown: list[str] = []
    for prefix, section, read, inert in sections:
        for name in section:
            if name in read:
                continue
            if name in inert:
                ignored[f"{prefix}{name}"] = inert[name]
            else:
                unknown.append(f"{prefix}{name}")
    if unknown and strict:
        raise UnknownConfigFieldError(
            f"{source}: config field(s) neither read nor known to be inert (they may change the voice):\n"
            f"{format_keys(unknown)}\n"
            "fix the config (remove or correct the field), or pass strict=False (CLI: --no-strict) to load "
            "anyway and see the field(s) in the report",
            fields=unknown,
        )
    ignored.update(dict.fromkeys(unknown, UNKNOWN_REASON))
    return ignored
