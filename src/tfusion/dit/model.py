"""DiT: the Diffusion Transformer of Peebles & Xie (2023) for class-conditional images or latents.

An image (B, C, H, W) is cut into p x p patches by a conv with kernel = stride = p; each patch is
a token with a fixed 2-D sin-cos position. The diffusion time and the class label are embedded,
summed into one conditioning vector c, and every block is an adaLN-Zero block driven by c. A final
adaLN layer maps each token back to p * p * C_out values, which are reassembled into the image.

Parameter names and shapes are those of the released DiT checkpoints (`pos_embed`,
`x_embedder.proj`, `t_embedder.mlp.{0,2}`, `y_embedder.embedding_table`, `blocks.N.{attn.qkv,
attn.proj, mlp.fc1, mlp.fc2, adaLN_modulation.1}`, `final_layer.{linear, adaLN_modulation.1}`),
so such a state dict loads with `strict=True`. The released models embed the integer step
n = 0 .. 999; tfusion's time is t = (n + 1) / T, so the model embeds t * T - 1, the same number.

Dimension letters: B batch, C channels, H x W image, p patch, N tokens, D width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tfusion.data.text import ByteTokenizer
from tfusion.devices import to_device
from tfusion.nn import AdaLNFinal, AdaLNZeroBlock, LabelEmbedder, TimestepEmbedder, unpatchify
from tfusion.nn.embeddings import sincos_2d
from tfusion.nn.text import CrossAttention, PooledEmbedder, TextEmbedder

# Named sizes (Table 1 of the paper): depth, width, heads; the patch size is the name's suffix
DIT_SIZES: dict[str, dict[str, int]] = {
    "S": {"depth": 12, "width": 384, "heads": 6},
    "B": {"depth": 12, "width": 768, "heads": 12},
    "L": {"depth": 24, "width": 1024, "heads": 16},
    "XL": {"depth": 28, "width": 1152, "heads": 16},
}
DIT_PRESETS: dict[str, dict[str, int]] = {
    f"DiT-{size}/{patch}": {**shape, "patch": patch}
    for size, shape in DIT_SIZES.items()
    for patch in (2, 4, 8)
}
# small shapes for CPU work (not in the paper)
DIT_PRESETS["DiT-T/2"] = {"depth": 6, "width": 192, "heads": 3, "patch": 2}
DIT_PRESETS["DiT-T/4"] = {"depth": 6, "width": 192, "heads": 3, "patch": 4}
DIT_PRESETS["DiT-Mini/2"] = {"depth": 4, "width": 96, "heads": 3, "patch": 2}
DIT_PRESETS["DiT-XS/7"] = {"depth": 4, "width": 128, "heads": 4, "patch": 7}  # 28 x 28 -> 16 tokens


@dataclass(frozen=True)
class DiTShape:
    """Everything that fixes a DiT's parameters."""

    image_size: int = 32
    channels: int = 4
    num_classes: int = 1000
    depth: int = 12
    width: int = 384
    heads: int = 6
    patch: int = 2
    mlp_ratio: float = 4.0
    learn_sigma: bool = False  # predict a variance interpolation too (2x output channels)
    num_timesteps: int = 1000  # T, for the released models' integer-step time embedding
    condition: str = "class"  # class (a label table) | text (a caption encoder, pooled)
    text_width: int = 128  # condition text: the caption encoder's width, depth and heads
    text_depth: int = 2
    text_heads: int = 4
    text_dim: int = 0  # > 0: captions arrive as an external encoder's pooled embeddings (E)
    cross_attention: bool = False  # text (trained encoder): blocks also attend to the tokens

    @classmethod
    def preset(cls, name: str, **kw: object) -> DiTShape:
        """DiTShape of a named preset such as "DiT-S/2", with other fields from `kw`."""
        if name not in DIT_PRESETS:
            from tfusion.errors import ConfigError

            raise ConfigError(f"unknown DiT preset {name!r}; choose from {', '.join(DIT_PRESETS)}")
        return cls(**DIT_PRESETS[name], **kw)  # type: ignore[arg-type]


class PatchEmbed(nn.Module):
    """(B, C, H, W) -> (B, N, D) with a conv of kernel = stride = patch (name `proj` as in timm)."""

    def __init__(self, patch: int, channels: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, width, kernel_size=patch, stride=patch, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DiT(nn.Module):
    """Diffusion Transformer: forward(x (B, C, H, W), t (B,) in (0, 1], y (B,)) -> (B, C_out, H, W).

    C_out is C, or 2C with `learn_sigma` (the second half is the variance interpolation of
    Improved DDPM: trained by the hybrid loss, used by the DDPM sampler). Label `num_classes`
    is the "null" label used for classifier-free guidance and for class dropout in training.
    """

    def __init__(self, shape: DiTShape) -> None:
        super().__init__()
        if shape.image_size % shape.patch:
            raise ValueError(
                f"image size {shape.image_size} is not divisible by the patch size {shape.patch}"
            )
        self.shape = shape
        d = shape.width
        self.out_channels = shape.channels * (2 if shape.learn_sigma else 1)
        self.grid = shape.image_size // shape.patch
        self.x_embedder = PatchEmbed(shape.patch, shape.channels, d)
        self.t_embedder = TimestepEmbedder(d, time_scale=float(shape.num_timesteps))
        if shape.condition == "text" and shape.text_dim > 0:  # a frozen encoder's embeddings
            self.y_embedder = PooledEmbedder(shape.text_dim, d)
        elif shape.condition == "text":  # captions: byte tokens, encoded and pooled
            tok = ByteTokenizer()
            self.y_embedder: nn.Module = TextEmbedder(
                tok.vocab_size, tok.PAD, d, shape.text_width, shape.text_depth, shape.text_heads
            )
        else:
            self.y_embedder = LabelEmbedder(shape.num_classes, d)
        pos = torch.from_numpy(sincos_2d(d, self.grid)).float().unsqueeze(0)  # (1, N, D)
        self.register_buffer("pos_embed", pos)  # persistent: released checkpoints carry it
        hidden = int(d * shape.mlp_ratio)
        self.blocks = nn.ModuleList(
            AdaLNZeroBlock(d, shape.heads, hidden) for _ in range(shape.depth)
        )
        self.final_layer = AdaLNFinal(d, shape.patch * shape.patch * self.out_channels)
        self.cross: nn.ModuleList | None = None
        if shape.cross_attention:
            if not isinstance(self.y_embedder, TextEmbedder):
                raise ValueError("cross-attention needs the trained text encoder's token states")
            self.cross = nn.ModuleList(
                CrossAttention(d, shape.text_width, shape.heads) for _ in range(shape.depth)
            )
        self._init_weights()

    def _init_weights(self) -> None:
        # DiT's initialisation: Xavier-uniform linears with zero bias, the patch conv as a linear,
        # N(0, 0.02) label table and timestep MLP, then zero modulations and output (adaLN-Zero)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:  # (the text encoder's Llama linears have none)
                    nn.init.zeros_(m.bias)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        if isinstance(self.y_embedder, LabelEmbedder):
            nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        elif isinstance(self.y_embedder, TextEmbedder):
            nn.init.normal_(self.y_embedder.token_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[1].weight)
            nn.init.zeros_(block.adaLN_modulation[1].bias)
        for layer in (self.final_layer.adaLN_modulation[1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        for xattn in self.cross or ():  # a fresh cross-attention adds nothing
            nn.init.zeros_(xattn.proj.weight)
            nn.init.zeros_(xattn.proj.bias)

    @property
    def null_label(self) -> int:
        """The null condition: label num_classes, or (text) the PAD token filling a row."""
        return self.y_embedder.null_label

    def unpatchify(self, tokens: Tensor) -> Tensor:
        """(B, N, p * p * C_out) -> (B, C_out, H, W); each token's values are (row, column,
        channel) within its patch (`tfusion.nn.patchify`)."""
        size = self.shape.image_size
        return unpatchify(tokens, self.shape.patch, size, size)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        y: Tensor | None,
        encoded: tuple[Tensor, Tensor | None, Tensor | None] | None = None,
    ) -> Tensor:
        """x (B, C, H, W), t (B,) diffusion time in (0, 1], y (B,) labels or (B, S) caption
        tokens (condition text) or (B, E) pooled embeddings -> (B, C_out, H, W). `encoded`:
        `encode_condition(y)` computed once (sampling reuses it at every step)."""
        t = to_device(t, x.device)
        h = self.x_embedder(x) + self.pos_embed.to(x.dtype)  # (B, N, D)
        # released models embed the integer step n = t * T - 1
        time = self.t_embedder(t - 1.0 / self.shape.num_timesteps)
        if encoded is None:
            assert y is not None
            encoded = self.encode_condition(to_device(y, x.device))  # CPU-built labels follow x
        pooled, states, real = encoded
        c = time + pooled  # (B, D)
        if self.cross is None:
            for block in self.blocks:
                h = block(h, c)
        else:  # captions: the token states for cross-attention too
            for block, xattn in zip(self.blocks, self.cross, strict=True):
                h = block(h, c)
                h = h + xattn(h, states, real)
        return self.unpatchify(self.final_layer(h, c))

    def encode_condition(self, y: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(the condition vector (B, D), caption token states, their mask): the states only
        with cross-attention."""
        if self.cross is not None:
            return self.y_embedder.encode(y)
        return self.y_embedder(y), None, None

    def guided(self, y: Tensor, scale: float) -> Callable[[Tensor, Tensor], Tensor]:
        """A denoiser (x, t) -> prediction for labels y under classifier-free guidance `scale`:
        uncond + scale (cond - uncond), the unconditional pass with the null label (caption).

        Guidance covers every channel of the prediction (the released code guided only the
        first three of four latent channels) and uses one batched conditional + unconditional
        pass. The condition (a caption through the text encoder) is encoded once, at the first
        call, and reused at every step. With `learn_sigma` the variance half follows unguided,
        from the conditional pass (as the released code samples), so the output has 2C
        channels: the samplers split it (DDPM samples with the learned variance, DDIM and
        DPM-Solver++ ignore it).
        """
        c = self.shape.channels
        learned = self.shape.learn_sigma
        labels = y if scale == 1.0 else torch.cat([y, torch.full_like(y, self.null_label)])
        cache: list = []

        def denoise(x: Tensor, t: Tensor) -> Tensor:
            if not cache:
                cache.append(self.encode_condition(to_device(labels, x.device)))
            if scale == 1.0:
                return self.forward(x, t, None, cache[0])
            out = self.forward(torch.cat([x, x]), torch.cat([t, t]), None, cache[0])
            cond, uncond = out.chunk(2)
            if not learned:
                return uncond + scale * (cond - uncond)
            mean = uncond[:, :c] + scale * (cond[:, :c] - uncond[:, :c])
            return torch.cat([mean, cond[:, c:]], dim=1)

        return denoise


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (buffers such as the fixed positions excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def dit_flops_per_image(shape: DiTShape) -> float:
    """Forward FLOPs of one image (2 per multiply-add; linears, patch conv and attention)."""
    n = (shape.image_size // shape.patch) ** 2
    d = shape.width
    hidden = int(d * shape.mlp_ratio)
    per_block = 2 * n * (3 * d * d + d * d + 2 * d * hidden) + 2 * 2 * n * n * d
    patch_in = 2 * n * shape.patch**2 * shape.channels * d
    out = 2 * n * d * shape.patch**2 * shape.channels * (2 if shape.learn_sigma else 1)
    return float(shape.depth * per_block + patch_in + out)
