"""Training a GAN in a folder: alternating discriminator and generator steps, pictures of progress.

    run = GANRun({"dataset": "ring8"}, out="runs/gan-ring8")      # or GANRun.resume(out)
    run.fit()

One step is `d_steps` discriminator updates, then one generator update:
    D:  real x from the data, fake G(z) made without a graph (a detach: D's step must not reach
        G), both through D in one pass, L_D, D's optimizer
    G:  fresh z, L_G on D(G(z)): the graph goes through D to G, with D's parameters frozen
        (requires_grad off for the pass), so only G gets gradients and only G's optimizer steps
Both players use Adam(lr 2e-4, betas 0.5, 0.999), the settings of the DCGAN paper. Every
`eval_every` steps the run scores samples (modes covered and high-quality share on the 2-D
mixtures, the digits classifier's view on digits) and draws the generator's output for a fixed
noise batch, so pictures from step to step show the same z moving.

The folder ends up holding checkpoint.safetensors (both players, both optimizers, the random state,
the step: a resumed run computes what the uninterrupted one would), metrics.jsonl (both losses,
D(x) and D(G(z)) and the scores at each evaluation), curves.png and samples.png. Ctrl-C finishes
the step, saves and stops.
"""
import os
import time

import numpy as np

from .. import errors, functional as F, optim, random as ms_random
from ..autograd import no_grad
from ..data import digits
from ..data.mixtures import MIXTURES, mixture
from ..metrics import digit_score, mode_coverage
from ..models.gan import (DCDiscriminator, DCGenerator, MLPDiscriminator, MLPGenerator, check_loss,
                          discriminator_loss, generator_loss)
from ..plot import gan_curves, image_grid, sample_scatter
from ..serialization import save
from ..tensor import Tensor
from .common import (CHECKPOINT, CURVES, check_overrides, layered, load_run, say, stop_on_signals, wrapped_up,
                     write_metrics)

DEFAULTS = {"dataset": "ring8", "model": None, "latent": None, "hidden": [128, 128], "loss": "ns", "lr": 2e-4,
            "beta1": 0.5, "beta2": 0.999, "batch_size": None, "steps": None, "d_steps": 1, "label_smoothing": 0.0,
            "eval_every": None, "eval_samples": 2500, "seed": 0, "device": "cpu"}
# per data set: the 2-D mixtures with MLPs (a 2-D latent keeps the map from noise to plane easy to
# look at), the digits with the small DCGAN pair
DATA_DEFAULTS = {"ring8": {"model": "mlp", "latent": 2, "batch_size": 256, "steps": 20000, "eval_every": 2000},
                 "grid25": {"model": "mlp", "latent": 2, "batch_size": 256, "steps": 8000, "eval_every": 1000},
                 "digits": {"model": "dcgan", "latent": 32, "batch_size": 64, "steps": 3000, "eval_every": 500}}
SAMPLES = "samples.png"


def fresh_running():
    """The sums of a step's numbers since the last evaluation, and how many steps they hold."""
    return {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0, "steps": 0}


def scaled_digits():
    """The 1797 8x8 digits as (n, 1, 8, 8) float32 in [-1, 1] (a tanh generator's range)."""
    return (digits().arrays[0].reshape(-1, 1, 8, 8) * 2.0 - 1.0).astype(np.float32)


class GANRun:
    kind = "gan"

    def __init__(self, config, out, log=say):
        self.config = c = layered(config, DEFAULTS, DATA_DEFAULTS, "dataset", "GAN dataset")
        dataset = c["dataset"]
        check_loss(c["loss"])
        if c["d_steps"] < 1 or not 0.0 <= c["label_smoothing"] < 0.5:
            raise errors.ValueError(f"train gan: --d-steps must be >= 1 and --label-smoothing in [0, 0.5), got "
                                    f"{c['d_steps']}, {c['label_smoothing']}")
        if c["label_smoothing"] and c["loss"] not in ("ns", "saturating"):
            raise errors.ValueError(f"train gan: label smoothing applies to the ns and saturating losses, not {c['loss']}")
        self.out, self.log, self.device = out, log, c["device"]
        ms_random.manual_seed(c["seed"])
        if c["model"] == "mlp":
            features = 64 if dataset == "digits" else 2
            self.generator = MLPGenerator(c["latent"], c["hidden"], features)
            self.discriminator = MLPDiscriminator(features, c["hidden"])
        elif c["model"] == "dcgan":
            if dataset != "digits":
                raise errors.ValueError("train gan: --model dcgan makes 8x8 images: use it with --data digits")
            self.generator, self.discriminator = DCGenerator(c["latent"]), DCDiscriminator()
        else:
            raise errors.ValueError(f"unknown GAN model {c['model']!r}; choose mlp or dcgan")
        self.generator.to(self.device)
        self.discriminator.to(self.device)
        betas = (c["beta1"], c["beta2"])
        self.g_optimizer = optim.Adam(self.generator.parameters(), lr=c["lr"], betas=betas)
        self.d_optimizer = optim.Adam(self.discriminator.parameters(), lr=c["lr"], betas=betas)
        self.images = scaled_digits() if dataset == "digits" else None
        if self.images is not None and c["model"] == "mlp":
            self.images = self.images.reshape(len(self.images), 64)
        # the fixed noise of the progress pictures
        self.fixed_noise = self.own_noise(64, 7)
        self.step, self.history, self.running = 0, [], fresh_running()
        self.stop_requested, self.stop_signal = False, None

    # --- data and noise, all from minisora's seeded generator -----------------------------------
    def real_batch(self):
        generator, n = ms_random.generator(), self.config["batch_size"]
        if self.images is None:
            return Tensor(mixture(self.config["dataset"], n, generator), device=self.device)
        return Tensor(self.images[generator.integers(0, len(self.images), n)], device=self.device)

    def own_noise(self, n, *key):
        """n noise vectors from a generator of their own, seeded by (the run's seed, *key): pictures
        and scores drawn from them never move the run's random numbers."""
        return np.random.default_rng([self.config["seed"], *key]).standard_normal(
            (n, self.config["latent"])).astype(np.float32)

    def noise(self, n=None):
        n = n or self.config["batch_size"]
        return Tensor(ms_random.generator().standard_normal((n, self.config["latent"])).astype(np.float32),
                      device=self.device)

    # --- one step --------------------------------------------------------------------------------
    def train_step(self):
        """d_steps discriminator updates, then one generator update; the last D step's numbers."""
        self.generator.train()
        self.discriminator.train()
        for _ in range(self.config["d_steps"]):
            d_loss, verdicts = self.discriminator_step()
        g_loss = self.generator_step()
        half = len(verdicts) // 2
        return {"d_loss": d_loss, "g_loss": g_loss, "d_real": float(verdicts[:half].mean()),
                "d_fake": float(verdicts[half:].mean())}

    def discriminator_step(self):
        """One update of D: (L_D, D's probabilities of real for the real then the generated samples)."""
        c = self.config
        real = self.real_batch()
        with no_grad():   # G's samples are data to D: no graph back into G (a detach)
            fake = self.generator(self.noise())
        self.d_optimizer.zero_grad()
        # one pass of D over real and generated samples together (D has no batch norm to mix them)
        logits = self.discriminator(F.cat([real, fake], 0))
        d_loss = discriminator_loss(logits[:len(real)], logits[len(real):], c["loss"], c["label_smoothing"])
        d_loss.backward()
        self.d_optimizer.step()
        with no_grad():
            return d_loss.item(), F.sigmoid(logits).numpy()

    def generator_step(self):
        """One update of G: its loss backpropagates through D to G, but only G learns from it: D's
        parameters are frozen for the pass, so none of D's weight gradients is even computed."""
        self.g_optimizer.zero_grad()
        frozen = [p.requires_grad_(False) for p in self.discriminator.parameters()]
        try:
            g_loss = generator_loss(self.discriminator(self.generator(self.noise())), self.config["loss"])
            g_loss.backward()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        self.g_optimizer.step()
        return g_loss.item()

    # --- scores and pictures ------------------------------------------------------------------------
    def samples(self, n, noise=None):
        """n generated samples (NumPy), in eval mode, without a graph."""
        self.generator.eval()
        with no_grad():
            out = self.generator(Tensor(noise, device=self.device) if noise is not None else self.noise(n)).numpy()
        return out

    def score(self):
        """The scores of eval_samples generated samples, drawn with their own seed (the run's random
        numbers do not move, so scoring never changes what training computes)."""
        noise = self.own_noise(self.config["eval_samples"], 11, self.step)
        generated = self.samples(len(noise), noise)
        if self.images is None:
            modes, std = MIXTURES[self.config["dataset"]]
            result = mode_coverage(generated, modes, std)
            return {"modes": result.covered, "high_quality": result.high_quality}, str(result)
        result = digit_score(generated)
        return {"classes": result.classes_present, "confidence": result.confidence}, str(result)

    def draw_samples(self, path, n=None):
        """The fixed noise's 64 images (digits), or n generated points over the modes (2-D)."""
        title = f"{self.config['dataset']}, step {self.step}"
        if self.images is None:
            noise = self.own_noise(n or self.config["eval_samples"], 11)
            return sample_scatter(self.samples(len(noise), noise), MIXTURES[self.config["dataset"]][0], path, title)
        noise = self.fixed_noise if n is None else self.own_noise(n, 7)
        return image_grid(self.samples(len(noise), noise).reshape(-1, 8, 8), path, title=title)

    # --- the loop ---------------------------------------------------------------------------------------
    def fit(self, progress=True):
        from tqdm import tqdm

        c = self.config
        with stop_on_signals(self):
            bar = tqdm(total=c["steps"], initial=self.step, desc="steps", leave=False,
                       disable=None if progress else True)
            started = time.perf_counter()
            while self.step < c["steps"] and not self.stop_requested:
                numbers = self.train_step()
                for key, value in numbers.items():
                    self.running[key] += value
                self.running["steps"] += 1
                self.step += 1
                bar.update(1)
                if self.step % c["eval_every"] == 0 or self.step == c["steps"]:
                    self.evaluate(time.perf_counter() - started)
                    started = time.perf_counter()
            bar.close()
            self.save_checkpoint()
        return wrapped_up(self, f"step {self.step}")

    def evaluate(self, seconds):
        steps = max(self.running.pop("steps"), 1)
        row = {"step": self.step, **{k: v / steps for k, v in self.running.items()}}
        scores, said = self.score()
        row.update(scores, seconds=round(seconds, 4))
        self.history.append(row)
        self.running = fresh_running()
        self.log(f"step {self.step:>6}/{self.config['steps']}  L_D {row['d_loss']:.4f}  L_G {row['g_loss']:.4f}  "
                 f"D(x) {row['d_real']:.3f}  D(G(z)) {row['d_fake']:.3f}  {said}")
        write_metrics(self.out, self.history)
        self.save_checkpoint()

    def draw_curves(self):
        if self.history:
            gan_curves(self.history, os.path.join(self.out, CURVES), title=f"GAN on {self.config['dataset']}")
        self.draw_samples(os.path.join(self.out, SAMPLES))

    # --- files ------------------------------------------------------------------------------------------
    def save_checkpoint(self):
        state = {"kind": self.kind, "config": self.config, "generator": self.generator.state_dict(),
                 "discriminator": self.discriminator.state_dict(), "g_optimizer": self.g_optimizer.state_dict(),
                 "d_optimizer": self.d_optimizer.state_dict(), "step": self.step, "running": self.running,
                 "random": ms_random.generator().bit_generator.state, "history": self.history}
        return save(state, os.path.join(self.out, CHECKPOINT))

    @classmethod
    def resume(cls, out, overrides=None, log=say):
        state = load_run(out, cls.kind)
        config, overrides = dict(state["config"]), dict(overrides or {})
        check_overrides(config, overrides, ("steps", "eval_every", "device"))
        run = cls({**config, **overrides}, out, log)
        run.restore(state)
        return run

    @staticmethod
    def summary(row):
        return summary_of(row)

    def restore(self, state):
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.step, self.running, self.history = state["step"], state["running"], state["history"]
        ms_random.generator().bit_generator.state = state["random"]


def summary_of(row):
    scores = (f"{row['modes']} modes covered, {row['high_quality']:.1%} high-quality samples" if "modes" in row
              else f"{row['classes']}/10 digit classes, confidence {row['confidence']:.1%}")
    return f"L_D {row['d_loss']:.4f}, L_G {row['g_loss']:.4f}, {scores}"


def describe(run):
    c = run.config
    sizes = sum(p.numel() for p in run.generator.parameters()), sum(p.numel() for p in run.discriminator.parameters())
    return (f"training a GAN ({c['model']}: G {sizes[0]:,} and D {sizes[1]:,} parameters, latent {c['latent']}) on "
            f"{c['dataset']}, {c['loss']} loss, Adam lr {c['lr']} betas ({c['beta1']}, {c['beta2']}), batch "
            f"{c['batch_size']}, {c['d_steps']} D step(s) per G step, {c['steps']} steps, seed {c['seed']}, "
            f"on {c['device']}")
