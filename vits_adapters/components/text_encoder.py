"""The VITS text encoder: token embedding, relative-position transformer, and prior projection."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .layers import ChannelLayerNorm, sequence_mask


class RelativeSelfAttention(nn.Module):
    """Multi-head self-attention with learned relative-position keys and values (window ``w``).

    Positions ``j`` within ``w`` of ``i`` add ``q_i . E_k[j - i]`` to the score and ``p_ij E_v[j - i]``
    to the output; farther positions get no relative term.
    """

    def __init__(self, channels: int, n_heads: int, window_size: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_channels = channels // n_heads
        self.window_size = window_size
        self.q_proj = nn.Conv1d(channels, channels, 1)
        self.k_proj = nn.Conv1d(channels, channels, 1)
        self.v_proj = nn.Conv1d(channels, channels, 1)
        self.out_proj = nn.Conv1d(channels, channels, 1)
        span = 2 * window_size + 1
        self.emb_rel_k = nn.Parameter(torch.zeros(1, span, self.head_channels))
        self.emb_rel_v = nn.Parameter(torch.zeros(1, span, self.head_channels))

    def _relative_index(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(length, device=device)
        offset = positions.unsqueeze(0) - positions.unsqueeze(1)  # [i, j] -> j - i
        inside = offset.abs() <= self.window_size
        index = (offset + self.window_size).clamp(0, 2 * self.window_size)
        return index, inside

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        batch, channels, length = x.shape
        heads, head_ch = self.n_heads, self.head_channels

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, heads, head_ch, length).transpose(2, 3)  # [b, h, t, d]

        query = split(self.q_proj(x)) / math.sqrt(head_ch)
        key = split(self.k_proj(x))
        value = split(self.v_proj(x))

        index, inside = self._relative_index(length, x.device)
        gather_index = index.expand(batch, heads, length, length)
        scores = torch.matmul(query, key.transpose(-2, -1))
        rel_logits = torch.matmul(query, self.emb_rel_k.unsqueeze(0).transpose(-2, -1))  # [b, h, t, 2w+1]
        scores = scores + rel_logits.gather(-1, gather_index) * inside
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        weights = F.softmax(scores, dim=-1)

        output = torch.matmul(weights, value)
        rel_weights = torch.zeros(batch, heads, length, 2 * self.window_size + 1, dtype=x.dtype, device=x.device)
        rel_weights.scatter_add_(-1, gather_index, weights * inside)
        output = output + torch.matmul(rel_weights, self.emb_rel_v.unsqueeze(0))
        output = output.transpose(2, 3).contiguous().view(batch, channels, length)
        return self.out_proj(output)


class FeedForward(nn.Module):
    """Two convolutions with "same" padding and a ReLU, masked before each convolution."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.padding = ((kernel_size - 1) // 2, kernel_size // 2)
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(F.pad(x * x_mask, self.padding))
        x = torch.relu(x)
        x = self.conv_2(F.pad(x * x_mask, self.padding))
        return x * x_mask


class EncoderLayer(nn.Module):
    """Post-norm transformer layer: attention, add & norm, feed-forward, add & norm."""

    def __init__(self, channels: int, filter_channels: int, n_heads: int, kernel_size: int, window_size: int) -> None:
        super().__init__()
        self.attention = RelativeSelfAttention(channels, n_heads, window_size)
        self.layer_norm = ChannelLayerNorm(channels)
        self.feed_forward = FeedForward(channels, filter_channels, kernel_size)
        self.final_layer_norm = ChannelLayerNorm(channels)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(x + self.attention(x, attn_mask))
        return self.final_layer_norm(x + self.feed_forward(x, x_mask))


class TransformerEncoder(nn.Module):
    """A stack of relative-position encoder layers."""

    def __init__(
        self, channels: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int, window_size: int
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(channels, filter_channels, n_heads, kernel_size, window_size) for _ in range(n_layers)
        )

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for layer in self.layers:
            x = layer(x, x_mask, attn_mask)
        return x * x_mask


class TextEncoder(nn.Module):
    """Token ids -> hidden states and the prior's mean and log-std per token."""

    def __init__(
        self,
        n_vocab: int,
        out_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        window_size: int,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.embed_tokens = nn.Embedding(n_vocab, hidden_channels)
        self.encoder = TransformerEncoder(hidden_channels, filter_channels, n_heads, n_layers, kernel_size, window_size)
        self.project = nn.Conv1d(hidden_channels, 2 * out_channels, 1)

    def forward(
        self, token_ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.embed_tokens(token_ids) * math.sqrt(self.hidden_channels)
        x = x.transpose(1, -1)
        x_mask = sequence_mask(lengths, x.size(2)).unsqueeze(1).to(x.dtype)
        x = self.encoder(x * x_mask, x_mask)
        stats = self.project(x) * x_mask
        mean, log_std = torch.split(stats, self.out_channels, dim=1)
        return x, mean, log_std, x_mask
