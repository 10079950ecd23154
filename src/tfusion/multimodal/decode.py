"""Decoding with a Transfusion model: text with a key/value cache, images by diffusion in place.

Text is sampled token by token (greedy, temperature, top-k, top-p). When BOI is emitted (or
forced), n noise patches are appended and denoised with any core sampler: at every step the
patches attend to the cached prefix and to each other, and their keys are dropped from the cache
again afterwards, so the prefix is computed once. Classifier-free guidance runs the conditional
prefix and the unconditional one (the caption dropped: BOS BOI) as one batch of 2B rows. The
clean image then joins the sequence (read at time 0), EOI follows and text goes on: the next
text segment prefills a fresh cache with the whole sequence so far.

Every path has an uncached twin (`use_cache=False`) that recomputes the whole sequence at each
step; tests check the two agree.
Shapes: B batch, T prefix length, n patches per image, P values per patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tfusion.devices import device_of, load_device
from tfusion.diffusion import SampleSettings, Schedule, row_generators, sample_loop
from tfusion.errors import ConfigError, DataError
from tfusion.multimodal.config import MultimodalSampleConfig
from tfusion.multimodal.model import MultimodalTransformer
from tfusion.multimodal.sampling import check_sampling, sample_token
from tfusion.multimodal.sequences import Packed, layout, pack
from tfusion.multimodal.tokenizer import ByteTokenizer, run_tokenizer
from tfusion.nn.llama import KVCache
from tfusion.nn.patchify import patchify, unpatchify

_DEFAULT = MultimodalSampleConfig()  # the keyword defaults of the public drawing methods


@dataclass(frozen=True)
class ImageSpec:
    channels: int
    size: int
    patch: int

    @property
    def patches(self) -> int:
        return (self.size // self.patch) ** 2

    @property
    def patch_dim(self) -> int:
        return self.patch * self.patch * self.channels


class MultimodalGenerator:
    """Text and image generation with one trained MultimodalTransformer (eval mode)."""

    def __init__(
        self,
        model: MultimodalTransformer,
        spec: ImageSpec,
        schedule: Schedule,
        prediction: str = "eps",
        tokenizer: ByteTokenizer | None = None,
        coder: torch.nn.Module | None = None,
        unconditional: bool = True,
    ) -> None:
        self.coder = coder  # images <-> latents (model.latent); None: the model sees pixels
        # whether training showed the caption-free prefix BOS BOI (caption dropout or image-first
        # sequences): guidance needs it
        self.unconditional = unconditional
        # pixels live in [-1, 1]; unit-variance latents do not, so x0 is only clipped on pixels
        self.clip = 1.0 if coder is None else None
        self.model = model.eval()
        self.spec, self.schedule, self.prediction = spec, schedule, prediction
        self.tok = tokenizer or ByteTokenizer()

    # ------------------------------------------------------------------ low level

    def _forward(self, *args: Tensor | KVCache | None) -> tuple[Tensor, Tensor]:
        """The model on its device: the decoder lays out tokens, masks and noise on the CPU,
        they move to the model's device for the forward, the outputs come back in fp32 (the
        KV cache stays on the device, inside the model's layers)."""
        dev = device_of(self.model)
        moved = [a.to(dev) if isinstance(a, Tensor) else a for a in args]
        logits, pred = self.model(*moved)
        return logits.float().cpu(), pred.float().cpu()

    def _prefill(self, batch: Packed) -> tuple[KVCache, Tensor]:
        """Run a prefix through the model into a fresh cache; logits of the last position."""
        cache = KVCache(len(self.model.layers))
        t = torch.zeros(batch.image.shape)
        mask = self.model.mask(batch.image, batch.valid)
        logits, _ = self._forward(
            batch.tokens, batch.patches, batch.image, t, mask, batch.positions, cache
        )
        return cache, logits[:, -1]

    def _extend(
        self,
        cache: KVCache,
        valid: Tensor,
        tokens: Tensor,
        patches: Tensor,
        is_image: bool,
        t: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Append k positions (tokens (B, k) or patches (B, k, P)) to a cached prefix whose
        validity is `valid` (B, T); returns logits, patch predictions and the new validity."""
        b, k = tokens.shape
        new_valid = torch.cat([valid, torch.ones(b, k, dtype=torch.bool)], dim=1)
        start = valid.sum(1, keepdim=True)
        positions = start + torch.arange(k)[None]
        # new queries see every valid cached key, and among the new keys: all of an image's
        # (bidirectional models) or the ones up to their own (text; images of causal models)
        old = valid[:, None, None, :].expand(b, 1, k, valid.shape[1])
        if is_image and self.model.shape.image_attention == "bidirectional":
            new = torch.ones(b, 1, k, k, dtype=torch.bool)
        else:
            new = torch.tril(torch.ones(k, k, dtype=torch.bool))[None, None].expand(b, 1, k, k)
        mask = torch.cat([old, new], dim=-1)
        image = torch.zeros(b, k, dtype=torch.long) if is_image else torch.full((b, k), -1)
        logits, pred = self._forward(tokens, patches, image, t, mask, positions, cache)
        return logits, pred, new_valid

    def _pack(self, sequences: list[list], left: bool = True) -> Packed:
        return pack(sequences, self.spec.patch_dim, self.tok.PAD, left=left)

    # ------------------------------------------------------------------ images

    def _to_patches(self, images: np.ndarray) -> np.ndarray:
        """Pixel images (B, C, H, W) in [-1, 1] -> the model's patches (B, n, P)."""
        x = np.asarray(images, dtype=np.float32)
        s = self.spec
        if x.ndim != 4:
            raise DataError(f"images must be an array (B, C, H, W), got shape {x.shape}")
        if self.coder is not None:
            dev = device_of(self.coder)
            x = self.coder.encode(torch.from_numpy(x).to(dev)).cpu().numpy()
        if x.shape[1:] != (s.channels, s.size, s.size):
            what = "latents" if self.coder is not None else "images"
            raise DataError(
                f"images of shape {tuple(np.shape(images)[1:])} do not fit this run, whose model "
                f"reads {what} of {s.channels} x {s.size} x {s.size}; resize them first"
            )
        return patchify(x, s.patch)

    def _to_images(self, patches: Tensor) -> np.ndarray:
        """The model's patches (B, n, P) -> pixel images (B, C, H, W) in [-1, 1]."""
        s = self.spec
        if self.coder is None:
            patches = patches.clamp(-1, 1)
        x = unpatchify(patches.numpy(), s.patch, s.size, s.size)
        if self.coder is not None:
            z = torch.from_numpy(np.ascontiguousarray(x)).to(device_of(self.coder))
            x = self.coder.decode(z).clamp(-1, 1).cpu().numpy()
        return x

    def _draw_image(
        self,
        prefixes: list[list],
        guidance: float,
        sampler: str,
        steps: int,
        noise: Tensor,
        use_cache: bool,
        eta: float = 0.0,
        seed: int = 0,
    ) -> Tensor:
        """Patches (B, n, P) of one image drawn after each prefix (which ends with BOI); `eta`
        is the sampler noise (DDIM / DPM-Solver++: 0 = ODE, 1 = SDE)."""
        settings = SampleSettings(sampler, steps, eta=eta, clip=self.clip, guidance=guidance)
        if settings.guidance != 1.0 and not self.unconditional:
            raise ConfigError(
                f"guidance {guidance:g} needs the caption-free prefix, which this run never "
                "trained on (data.caption_dropout=0 and data.image_first=0): sample with "
                "--guidance 1, or train with data.caption_dropout > 0 (the paper: 0.1)"
            )
        b, n, p = noise.shape
        rows = list(prefixes)
        guided = settings.guidance != 1.0
        if guided:
            rows += [[[self.tok.BOS, self.tok.BOI]]] * b  # caption dropped: the unconditional
        prefix = self._pack(rows)
        if use_cache:
            cache, _ = self._prefill(prefix)
            length = cache.length

        def denoise(x: Tensor, t: Tensor) -> Tensor:
            xx = torch.cat([x, x]) if guided else x
            tt = t[:, None].expand(b, n)
            tt = torch.cat([tt, tt]) if guided else tt
            if use_cache:
                dummy = torch.zeros(xx.shape[0], n, dtype=torch.long)
                _, pred, _ = self._extend(cache, prefix.valid, dummy, xx, True, tt)
                cache.truncate(length)
            else:
                pred = self._full_pass(prefix, xx, tt)
            if not guided:
                return pred
            c, u = pred.chunk(2)
            return u + settings.guidance * (c - u)

        # the SDE's noise after the start: row i's own stream (seed + i), so a batch draws what
        # its rows draw one by one at any eta
        gen = row_generators(range(seed + 1_000_003, seed + 1_000_003 + b))
        return sample_loop(
            denoise,
            (b, n, p),
            self.schedule,
            self.prediction,
            settings,
            generator=gen,
            x_init=noise,
        )

    def _full_pass(self, prefix: Packed, x: Tensor, t: Tensor) -> Tensor:
        """No cache: the whole prefix plus the noisy patches, predictions at the patches."""
        b, n, _ = x.shape
        first_free = int(prefix.image.max().item()) + 1 if (prefix.image >= 0).any() else 0
        batch = Packed(
            torch.cat([prefix.tokens, torch.zeros(b, n, dtype=torch.long)], 1),
            torch.cat([prefix.patches, x], 1),
            torch.cat([prefix.image, torch.full((b, n), first_free)], 1),
            torch.cat([prefix.valid, torch.ones(b, n, dtype=torch.bool)], 1),
        )
        times = torch.cat([torch.zeros(prefix.image.shape), t], 1)
        mask = self.model.mask(batch.image, batch.valid)
        _, pred = self._forward(
            batch.tokens, batch.patches, batch.image, times, mask, batch.positions
        )
        return pred[:, -n:]

    @torch.no_grad()
    def text_to_image(
        self,
        captions: list[str],
        guidance: float = _DEFAULT.guidance,
        sampler: str = _DEFAULT.sampler,
        steps: int = _DEFAULT.steps,
        seed: int = 0,
        use_cache: bool = True,
        eta: float = _DEFAULT.eta,
    ) -> np.ndarray:
        """One image per caption (B, C, H, W) in [-1, 1]; sample i starts from the noise of
        Generator(seed + i), and with eta > 0 its later noise from a stream of its own, so a batch
        equals its captions drawn one by one."""
        s = self.spec
        noise = torch.stack(
            [
                torch.randn(
                    s.patches, s.patch_dim, generator=torch.Generator().manual_seed(seed + i)
                )
                for i in range(len(captions))
            ]
        )
        prefixes = [[[self.tok.BOS], self.tok.encode(c), [self.tok.BOI]] for c in captions]
        patches = self._draw_image(prefixes, guidance, sampler, steps, noise, use_cache, eta, seed)
        return self._to_images(patches)

    # ------------------------------------------------------------------ interleaved

    @torch.no_grad()
    def generate(
        self,
        prompt: str = "",
        max_tokens: int = 64,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        guidance: float = _DEFAULT.guidance,
        sampler: str = _DEFAULT.sampler,
        steps: int = _DEFAULT.steps,
        seed: int = 0,
        force_image: bool = False,
        max_images: int = 4,
        use_cache: bool = True,
        eta: float = _DEFAULT.eta,
    ) -> list[str | np.ndarray]:
        """Continue `prompt`, writing text and drawing an image wherever BOI comes.

        The model writes text (BOS prompt ...); when it emits BOI (or at once, with
        `force_image`), an image is drawn after the whole sequence so far (with guidance
        against the unconditional BOS BOI), appended with EOI, and the text goes on until EOS,
        `max_tokens` text tokens or `max_images` images. Returns the segments in order: text
        as str (the prompt's continuation), images as (C, H, W) arrays in [-1, 1]. Text only
        (a model that never emits BOI), text -> image (`force_image`) and interleaved text and
        images are all this one loop."""
        s, tok = self.spec, self.tok
        segs: list = [[tok.BOS], tok.encode(prompt)]
        out: list[str | np.ndarray] = []
        left, drawn = max_tokens, 0
        boi_next = force_image
        while True:
            if boi_next and drawn < max_images:
                segs.append([tok.BOI])
                noise = torch.randn(
                    1, s.patches, s.patch_dim, generator=torch.Generator().manual_seed(seed + drawn)
                )
                patches = self._draw_image(
                    [segs], guidance, sampler, steps, noise, use_cache, eta, seed + drawn
                )
                if self.coder is None:
                    patches = patches.clamp(-1, 1)
                segs += [patches[0].numpy(), [tok.EOI]]  # the clean image is read again at t=0
                out.append(self._to_images(patches)[0])
                drawn += 1
            if left <= 0:
                break
            row = self._decode(
                [segs],
                left,
                temperature,
                top_k,
                top_p,
                seed + 1000 * drawn,
                use_cache,
                stop=(tok.BOI,),
            )[0]
            boi_next = bool(row) and row[-1] == tok.BOI and drawn < max_images
            text = row[:-1] if row and row[-1] == tok.BOI else row
            left -= len(row)
            if text:
                segs.append(text)
                out.append(tok.decode(text))
            if not boi_next:
                break
        return out

    # ------------------------------------------------------------------ text

    def caption_perplexity(self, images: np.ndarray, captions: list[str]) -> float:
        """exp(cross-entropy per byte) of the captions after their images
        (`tfusion.multimodal.perplexity`)."""
        from tfusion.multimodal.perplexity import caption_perplexity

        return caption_perplexity(self, images, captions)

    def text_perplexity(self, text: bytes, window: int = 128, batch: int = 32) -> float:
        """exp(cross-entropy per byte) of plain text read in windows of about `window` bytes
        (`tfusion.multimodal.perplexity`)."""
        from tfusion.multimodal.perplexity import text_perplexity

        return text_perplexity(self, text, window, batch)

    @torch.no_grad()
    def caption(
        self,
        images: np.ndarray,
        max_tokens: int = 48,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int = 0,
        use_cache: bool = True,
    ) -> list[str]:
        """A caption per image (B, C, H, W): the text after BOS BOI image EOI, until EOS (or a
        BOI: a caption holds no image); row i samples from Generator(seed + i)."""
        patches = self._to_patches(images)
        prefixes = [[[self.tok.BOS, self.tok.BOI], p, [self.tok.EOI]] for p in patches]
        boi = (self.tok.BOI,)
        ids = self._decode(prefixes, max_tokens, temperature, top_k, top_p, seed, use_cache, boi)
        return [self.tok.decode([t for t in row if t != self.tok.BOI]) for row in ids]

    def _decode(
        self,
        prefixes: list[list],
        max_tokens: int,
        temperature: float,
        top_k: int | None,
        top_p: float | None,
        seed: int,
        use_cache: bool,
        stop: tuple[int, ...] = (),
    ) -> list[list[int]]:
        """Text after each prefix until EOS (dropped) or a `stop` token (kept, last)."""
        check_sampling(temperature, top_k, top_p)
        batch = self._pack(prefixes)
        b = len(prefixes)
        # row i draws from its own stream (seed + i), so a batch writes what its rows write alone
        gens = row_generators(range(seed, seed + b))
        never = torch.tensor([self.tok.PAD, self.tok.BOS, self.tok.EOI])
        out: list[list[int]] = [[] for _ in range(b)]
        done = torch.zeros(b, dtype=torch.bool)
        seq = batch
        if use_cache:
            cache, last = self._prefill(batch)
        for written in range(1, max_tokens + 1):
            if not use_cache:
                times = torch.zeros(seq.image.shape)
                mask = self.model.mask(seq.image, seq.valid)
                logits, _ = self._forward(
                    seq.tokens, seq.patches, seq.image, times, mask, seq.positions
                )
                last = logits[:, -1]
            # PAD, BOS and EOI are never a next text token (EOI follows an image the decoder
            # drew): a model that favours one writes the next best token instead
            last = last.index_fill(-1, never, float("-inf"))
            nxt = torch.cat(
                [
                    sample_token(last[i : i + 1], temperature, top_k, top_p, g)
                    for i, g in enumerate(gens)
                ]
            )
            nxt = torch.where(done, torch.full_like(nxt, self.tok.PAD), nxt)
            for i in range(b):
                if not done[i]:
                    out[i].append(int(nxt[i]))
            done |= nxt == self.tok.EOS
            for token in stop:
                done |= nxt == token
            if done.all() or written == max_tokens:  # no forward for a token never sampled
                break
            zeros = torch.zeros(b, 1, self.spec.patch_dim)
            if use_cache:
                logits, _, valid = self._extend(
                    cache, seq.valid, nxt[:, None], zeros, False, torch.zeros(b, 1)
                )
                last = logits[:, -1]
            else:
                valid = torch.cat([seq.valid, torch.ones(b, 1, dtype=torch.bool)], 1)
            seq = Packed(
                torch.cat([seq.tokens, nxt[:, None]], 1),
                torch.cat([seq.patches, zeros], 1),
                torch.cat([seq.image, torch.full((b, 1), -1)], 1),
                valid,
            )
        return [[t for t in row if t not in (self.tok.EOS, self.tok.PAD)] for row in out]


def load_multimodal(
    run: str | Path, ema: bool = True, device: str | torch.device | None = None
) -> MultimodalGenerator:
    """A generator for a trained multimodal run folder (EMA weights by default), its model
    (and latent coder) on `device` (default the CPU)."""
    from tfusion import runs
    from tfusion.multimodal.train import model_shape, saved_multimodal_config
    from tfusion.training.checkpoint import load_weights

    path = runs.open_run(run)
    cfg = saved_multimodal_config(path)
    spec = runs.read_data_state(
        path, lambda s: ImageSpec(int(s["channels"]), int(s["size"]), int(s["patch"]))
    )
    tok = run_tokenizer(path, cfg.model.tokenizer)
    model = MultimodalTransformer(model_shape(cfg, spec.channels, spec.size, tok.vocab_size))
    load_weights(model, runs.weights_path(path, ema))
    schedule = Schedule.create(cfg.diffusion.schedule, cfg.diffusion.steps)
    from tfusion.latents import run_coder

    coder = run_coder(path, cfg.model.latent)
    dev = load_device(device)
    model.to(dev)
    if coder is not None:
        coder.to(dev)
    d = cfg.data
    return MultimodalGenerator(
        model.eval(),
        spec,
        schedule,
        cfg.diffusion.prediction,
        tokenizer=tok,
        coder=coder,
        unconditional=d.caption_dropout > 0 or d.image_first > 0,
    )


__all__ = [
    "ImageSpec",
    "MultimodalGenerator",
    "layout",
    "load_multimodal",
    "sample_token",
]
