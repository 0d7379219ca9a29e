"""Fine-tuning the reader (``retrieval/reader.py``) on groups of candidate sentences.

Training data is JSONL, one question per line::

    {"question": "Who chairs Ryanair?", "origin": "squad1",
     "candidates": [{"sentence": "...", "title": "...", "previous": "...", "label": 1}, ...]}

``label`` 1 marks a sentence that answers; a group with no such sentence is an unanswerable
question. An answering candidate may carry ``"answers"``: the gold answer phrases, the first
found inside the sentence being the span head's target (without one, only the sentence label
trains). Candidates come hardest first (the sentences the pipeline wrongly ranks high), and
each step takes the first ``group_size - 1`` of them with one answer, so the reader learns
to tell the answer from its look-alikes. With ``answerless_negatives`` the closest look-alike
there is joins them (in the last negative's place when the group is full): the answer
sentence itself with its answer cut out.

The loss is a softmax over each group's logits plus a fixed "none of these" logit of 0
(target: the answer, or "none" for an unanswerable group), plus a per-pair binary
cross-entropy: the logit then reads as the log-odds that the sentence answers, which the
calibrated confidence uses. The span head learns where the answer phrase lies inside an
answering sentence, and to point at [CLS] for every other one (SQuAD 2.0's "no answer"
convention): word-level supervision that teaches the shared layers what a "who" or "how
many" answer looks like, which one bit per sentence teaches slowly. Seeded, bf16 autocast
where the CPU has it, checkpointed every ``save_every`` steps and resumed from the checkpoint
when run again with the same config.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from index.errors import ConfigError
from index.precision import Precision, resolve_precision
from index.settings import DEFAULT_MODEL
from retrieval.reader_files import file_sha256
from retrieval.reader_net import (
    SHARED_PARAMETER,
    build_network,
    load_trained,
    save_weights,
    to_tensors,
)
from retrieval.reader_pairs import EncodedPairs, InputLimits, ReaderPair, encode_pairs, locate_phrase

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    """Everything that decides the trained weights (recorded beside them)."""

    layers: int = 4
    limits: dict[str, int] = field(default_factory=lambda: asdict(InputLimits()))
    group_size: int = 8
    groups_per_step: int = 4
    epochs: float = 1.0
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    #: Weight of the per-pair binary cross-entropy next to the group softmax.
    pointwise_weight: float = 0.5
    #: Weight of the answer-phrase (span) loss next to the sentence losses.
    span_weight: float = 0.5
    seed: int = 13
    precision: Precision = "auto"
    base_model: str = DEFAULT_MODEL
    save_every: int = 200
    #: Stop (and still write the weights) after this many minutes; 0 means no limit.
    max_minutes: float = 0.0
    #: sha256 of the reader weights training continues from ("" = the packaged model's layers).
    start_weights: str = ""
    #: Add to each answerable group its answer sentence with the answer phrase cut out, as a
    #: negative (see ``without_answer``).
    answerless_negatives: bool = False


@dataclass
class Group:
    question: str
    pairs: list[ReaderPair]
    labels: list[int]
    #: Per pair, the gold answer phrases (empty for negatives, and where none is known).
    answers: list[list[str]] = field(default_factory=list)

    def answers_of(self, i: int) -> list[str]:
        return self.answers[i] if i < len(self.answers) else []


def load_groups(path: Path) -> list[Group]:
    """Read training groups; a bad line is one ConfigError naming the file and line."""
    out: list[Group] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                q = str(d["question"])
                cands = d["candidates"]
                pairs = [
                    ReaderPair(q, str(c["sentence"]), str(c.get("title") or ""), str(c.get("previous") or ""))
                    for c in cands
                ]
                labels = [int(bool(c.get("label"))) for c in cands]
                answers = [[str(a) for a in c.get("answers") or []] for c in cands]
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}:{n}: not a training group ({exc})") from None
            if pairs:
                out.append(Group(q, pairs, labels, answers))
    return out


#: An answer sentence with its answer cut out must keep this many words to be a negative.
MIN_ANSWERLESS_WORDS = 5
_LOOSE_PUNCTUATION = re.compile(r"\s+([,.;:!?)])|([(])\s+|^[\s,;:.)-]+")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]")


def without_answer(sentence: str, answers: Sequence[str]) -> str | None:
    """``sentence`` with every occurrence of its gold answer phrases cut out, or None when no
    phrase is inside it or too little is left.

    The cut sentence restates the question (it keeps every word the question shares with the
    answer) and no longer answers it: the look-alike a news lead sentence is ("A US judge has
    set a trial date" for "Which judge set the trial date?"), made from every SQuAD answer.
    """
    phrases = sorted({a.strip() for a in answers if a.strip()}, key=len, reverse=True)
    cut = sentence
    for phrase in phrases:
        cut = re.sub(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", " ", cut, flags=re.IGNORECASE)
    if cut == sentence:
        return None
    cut = _EMPTY_BRACKETS.sub(" ", cut)
    cut = " ".join(cut.split())
    cut = _LOOSE_PUNCTUATION.sub(lambda m: m.group(1) or m.group(2) or "", cut).strip()
    if len(cut.split()) < MIN_ANSWERLESS_WORDS:
        return None
    return cut[0].upper() + cut[1:]


def sample_group(
    g: Group, size: int, rng: random.Random, answerless: bool = False
) -> tuple[list[ReaderPair], list[int], list[list[str]]]:
    """One answer (if any) and the hardest negatives, ``size`` pairs at most; answer at index 0.

    ``answerless``: the answer sentence with its answer cut out (``without_answer``) is added
    as a negative when the answer's phrases are known and inside it, taking the last negative's
    place when the group is full.
    """
    pos = [i for i, lab in enumerate(g.labels) if lab]
    neg = [i for i, lab in enumerate(g.labels) if not lab]
    picked = ([rng.choice(pos)] if pos else []) + neg[: size - (1 if pos else 0)]
    pairs = [g.pairs[i] for i in picked]
    labels = [g.labels[i] for i in picked]
    answers = [g.answers_of(i) for i in picked]
    if answerless and pos:
        answer = pairs[0]
        cut = without_answer(answer.sentence, answers[0])
        if cut is not None:
            keep = min(len(pairs), size - 1)
            pairs = [*pairs[:keep], ReaderPair(answer.question, cut, answer.title, answer.previous)]
            labels = [*labels[:keep], 0]
            answers = [*answers[:keep], []]
    return pairs, labels, answers


#: A span target meaning "this pair does not train the span head".
NO_TARGET = -1


def span_targets(
    tok: Any, enc: EncodedPairs, labels: Sequence[int], answers: Sequence[Sequence[str]]
) -> np.ndarray:
    """[start, end] (inclusive) per pair: the answer phrase's word pieces in an answering
    sentence, (0, 0) = [CLS] for any other, ``NO_TARGET`` for an answering sentence whose
    phrase is unknown or not inside it (SelQA gives no phrases)."""
    out = np.full((len(labels), 2), NO_TARGET, dtype=np.int64)
    for i, label in enumerate(labels):
        if not label:
            out[i] = (0, 0)
            continue
        phrases = [a for a in answers[i] if a.strip()]
        ids = tok(phrases, add_special_tokens=False)["input_ids"] if phrases else []
        span = (int(enc.sentence_spans[i][0]), int(enc.sentence_spans[i][1]))
        for phrase in ids:
            found = locate_phrase(enc.input_ids[i].tolist(), span, list(phrase))
            if found is not None:
                out[i] = found
                break
    return out


def span_loss(span_logits: torch.Tensor, sentence_spans: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of start and end over [CLS] and the sentence's word pieces (the context
    and question are never an answer phrase); pairs with ``NO_TARGET`` are left out."""
    keep = targets[:, 0] != NO_TARGET
    if not bool(keep.any()):
        return span_logits.new_zeros(())
    logits, spans, tgt = span_logits[keep].float(), sentence_spans[keep], targets[keep]
    pos = torch.arange(logits.shape[1])[None, :]
    allowed = (pos == 0) | ((pos >= spans[:, :1]) & (pos < spans[:, 1:]))
    masked = logits.masked_fill(~allowed[:, :, None], -1e4)
    start = torch.nn.functional.cross_entropy(masked[:, :, 0], tgt[:, 0])
    end = torch.nn.functional.cross_entropy(masked[:, :, 1], tgt[:, 1])
    return (start + end) / 2


def group_loss(
    logits: torch.Tensor, labels: torch.Tensor, answerable: bool, pointwise: float
) -> torch.Tensor:
    """Softmax over [none=0, logits] toward the answer (index 1) or none (0), plus BCE."""
    z = torch.cat([logits.new_zeros(1), logits])
    target = torch.tensor(1 if answerable else 0)
    listwise = torch.nn.functional.cross_entropy(z[None, :], target[None])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
    return listwise + pointwise * bce


def _set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    groups: Sequence[Group],
    config: TrainConfig,
    work_dir: Path,
    out_dir: Path,
    data_hashes: dict[str, str],
    log: Callable[[str], None] = print,
    start_from: Path | None = None,
) -> dict[str, Any]:
    """Fine-tune and write ``out_dir/reader.safetensors`` + ``reader.json``; returns the record.

    ``start_from``: a weights file of the same shape to continue from (a second round on
    fresh candidates, or a user's corpus); its hash must be ``config.start_weights``.
    """
    from transformers import AutoTokenizer

    from index.embedding import configure_torch_threads, resolve_model_path

    _set_seed(config.seed)
    # Training is batch work on every core, whatever an earlier step of the same process
    # (collecting candidates asks questions the interactive way, on 1 thread) left set.
    configure_torch_threads(0)
    precision = resolve_precision(config.precision)
    limits = InputLimits(**config.limits)
    tok: Any = AutoTokenizer.from_pretrained(resolve_model_path(config.base_model))
    net = build_network(config.layers, config.base_model)
    if config.start_weights and start_from is None:
        raise ConfigError("the config continues from trained weights, but none were given")
    if start_from is not None:
        if file_sha256(start_from) != config.start_weights:
            raise ConfigError(f"{start_from}: not the weights the config names ({config.start_weights[:12]})")
        try:
            load_trained(net, start_from, fresh_span_head=True)
        except ValueError as exc:
            raise ConfigError(f"{start_from}: {exc}") from None
        log(f"continuing from {start_from.name} ({config.start_weights[:12]})")
    for name, p in net.named_parameters():
        p.requires_grad = name != SHARED_PARAMETER
    heads = ("head.", "span.")
    head = [p for n, p in net.named_parameters() if n.startswith(heads)]
    body = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith(heads)]
    opt = torch.optim.AdamW(
        [
            {"params": body, "lr": config.learning_rate},
            {"params": head, "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    order_rng = random.Random(config.seed)
    n_groups = len(groups)
    schedule: list[int] = []
    while len(schedule) < int(config.epochs * n_groups):
        perm = list(range(n_groups))
        order_rng.shuffle(perm)
        schedule += perm
    schedule = schedule[: int(config.epochs * n_groups)]
    total_steps = max(1, len(schedule) // config.groups_per_step)
    warmup = max(1, int(config.warmup_share * total_steps))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    start_step = 0
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt = work_dir / CHECKPOINT
    cfg_json = json.dumps(asdict(config), sort_keys=True)
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        if state.get("config") == cfg_json and state.get("data") == data_hashes:
            net.load_state_dict(state["model"], strict=False)
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            start_step = int(state["step"])
            log(f"resumed at step {start_step}/{total_steps}")
        else:
            log("checkpoint is from another config or data: starting over")
    net.train()
    t0 = time.time()
    running = 0.0
    step = start_step
    stopped_early = False
    for step in range(start_step, total_steps):
        if config.max_minutes and (time.time() - t0) / 60 > config.max_minutes:
            stopped_early = True
            break
        # Per-step rng: a resumed run samples exactly what an uninterrupted one would.
        rng = random.Random(config.seed * 1_000_003 + step)
        batch = schedule[step * config.groups_per_step : (step + 1) * config.groups_per_step]
        pairs: list[ReaderPair] = []
        spans: list[tuple[int, int, bool]] = []
        labels: list[int] = []
        phrases: list[list[str]] = []
        for gi in batch:
            picked, lab, ans = sample_group(groups[gi], config.group_size, rng, config.answerless_negatives)
            spans.append((len(pairs), len(pairs) + len(picked), any(lab)))
            pairs += picked
            labels += lab
            phrases += ans
        encoded = encode_pairs(tok, pairs, limits)
        targets = torch.from_numpy(span_targets(tok, encoded, labels, phrases))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits, token_logits = net.forward_spans(**to_tensors(encoded))
        logits = logits.float()
        lab_t = torch.tensor(labels)
        loss = torch.stack(
            [group_loss(logits[a:b], lab_t[a:b], ans, config.pointwise_weight) for a, b, ans in spans]
        ).mean()
        if config.span_weight:
            sentence_spans = torch.from_numpy(encoded.sentence_spans)
            loss = loss + config.span_weight * span_loss(token_logits, sentence_spans, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_([*body, *head], 1.0)
        opt.step()
        sched.step()
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if step > start_step else value
        done = step + 1
        if done % 50 == 0 or done == total_steps:
            rate = (done - start_step) / max(1e-9, time.time() - t0)
            eta = (total_steps - done) / max(1e-9, rate)
            log(f"step {done}/{total_steps} loss {running:.4f} ({rate:.2f} steps/s, eta {eta / 60:.1f} min)")
        if done % config.save_every == 0 and done < total_steps:
            trainable = {k: v for k, v in net.state_dict().items() if k != SHARED_PARAMETER}
            tmp = ckpt.with_name(ckpt.name + ".tmp")
            torch.save(
                {
                    "config": cfg_json,
                    "data": data_hashes,
                    "model": trainable,
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "step": done,
                },
                tmp,
            )
            tmp.replace(ckpt)
    else:
        step = total_steps
    base_file = Path(resolve_model_path(config.base_model)) / "model.safetensors"
    record: dict[str, Any] = {
        "format": 1,
        "base_model": config.base_model,
        "base_model_sha256": file_sha256(base_file) if base_file.is_file() else None,
        "layers": config.layers,
        "limits": config.limits,
        "config": asdict(config),
        "precision_used": precision,
        "data_sha256": data_hashes,
        "groups": n_groups,
        "steps": step,
        "total_steps": total_steps,
        "stopped_early": stopped_early,
        "minutes": round((time.time() - t0) / 60, 2),
        "final_loss": round(running, 5),
    }
    net.eval()
    save_weights(net, out_dir, record)
    if ckpt.exists() and not stopped_early:
        ckpt.unlink()
    log(f"wrote {out_dir} ({step}/{total_steps} steps, {record['minutes']} min)")
    return record
