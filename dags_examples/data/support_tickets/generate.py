"""Generate the bundled support-ticket dataset used by the example DAGs and the demo.

The texts are synthetic, written for this project: short customer messages built from our own templates
and vocabulary, each in one of four classes (``billing``, ``delivery``, ``account``, ``other``). The output
is deterministic (fixed seed), so re-running the script reproduces the committed files byte for byte::

    python dags_examples/data/support_tickets/generate.py          # rewrite the files beside this script
    python dags_examples/data/support_tickets/generate.py --check  # exit 1 if the committed files differ

Files written (all JSON Lines, UTF-8):

``tasks.jsonl``
    What is uploaded to Toloka: ``{"input_values": {"ticket_id": ..., "text": ...}}`` per line. No labels.
``truth.jsonl``
    The true label of every task, kept apart from the upload; the emulator's crowd answers from it and the
    demo report scores the aggregated labels against it:
    ``{"input_values": {...same as the task...}, "output_values": {"label": ...}}``.
``golden.jsonl``
    Control tasks with known solutions, mixed into the pool to measure each worker's accuracy:
    ``{"input_values": {...}, "known_solutions": [{"output_values": {"label": ...}, "correctness_weight": 1}],
    "infinite_overlap": true}`` (every worker may see each one, as Toloka recommends for control tasks).
``training.jsonl``
    Training tasks (same shape as golden ones, plus a hint shown on a wrong answer).

Ticket ids are ``T0001``... for tasks, ``G001``... for golden and ``R001``... for training tasks, so the three
sets never share an input.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

LABELS = ("billing", "delivery", "account", "other")
SEED = 20240517
TASKS_PER_LABEL = 90  # 360 tasks
GOLDEN_PER_LABEL = 6  # 24 golden tasks
TRAINING_PER_LABEL = 3  # 12 training tasks

# Slot vocabulary shared by the templates. Every template draws only from its own label's vocabulary, so the
# true label of a generated text is the label of its template.
VOCAB: dict[str, list[str]] = {
    "product": [
        "headphones", "coffee grinder", "desk lamp", "phone case", "blender", "yoga mat", "backpack",
        "kettle", "keyboard", "winter jacket", "air fryer", "board game", "monitor stand", "water bottle",
        "running shoes", "bookshelf", "printer ink", "baby monitor",
    ],
    "amount": ["$4.99", "$12.50", "$19.00", "$24.99", "$39.90", "$59.00", "$7.45", "$88.20", "$129.00"],
    "period": ["this month", "last month", "in March", "twice this week", "on my last invoice", "yesterday"],
    "payment": ["credit card", "PayPal", "debit card", "gift card", "bank transfer", "Apple Pay"],
    "courier": ["the courier", "the delivery driver", "the parcel service", "the post office"],
    "days": ["three days", "a week", "ten days", "two weeks", "five days"],
    "place": ["my doorstep", "the wrong address", "my neighbour", "the locker", "the reception desk"],
    "login": ["password", "two-factor code", "email address", "username", "phone number"],
    "device": ["my phone", "the app", "my laptop", "the website", "my tablet"],
    "topic": [
        "your opening hours", "a job opening", "a partnership", "your privacy policy", "a product idea",
        "the store in Lisbon", "your recycling program", "a school project", "the loyalty newsletter",
    ],
    "mood": ["Hi,", "Hello,", "Good morning,", "Hey team,", "Dear support,", "Quick question:", ""],
    "close": ["Thanks.", "Please help.", "Any update?", "Thank you!", "Regards.", "", "Cheers."],
}

TEMPLATES: dict[str, list[str]] = {
    "billing": [
        "I was charged {amount} twice {period} for one order.",
        "My {payment} was billed {amount} but the order shows {amount2}.",
        "Why is there a {amount} fee on my invoice {period}?",
        "I returned the {product} but never got my {amount} refund.",
        "The discount code was not applied and I paid {amount} too much.",
        "Please send me a VAT invoice for the {product} I bought {period}.",
        "My {payment} was declined although it has enough funds.",
        "I cancelled my subscription but was still charged {amount} {period}.",
        "Can I split the payment for the {product} between {payment} and {payment2}?",
        "The refund for the {product} went to an old {payment}, not the one I used.",
    ],
    "delivery": [
        "My {product} has not arrived after {days}.",
        "The tracking number for my {product} does not work.",
        "{courier_cap} left my parcel at {place} and now it is gone.",
        "The {product} arrived broken, the box was crushed.",
        "I received a {product} instead of the {product2} I ordered.",
        "Can I change the delivery address for my {product} order?",
        "The parcel has said 'out for delivery' for {days}.",
        "Only half of my order arrived, the {product} is missing.",
        "{courier_cap} never rang the bell and marked my {product} as delivered.",
        "Is weekend delivery possible for a {product}?",
    ],
    "account": [
        "I cannot log in, my {login} is not accepted.",
        "I never got the {login} reset email.",
        "How do I change the {login} on my profile?",
        "Someone logged into my account from {device} that is not mine.",
        "Please delete my account and all my data.",
        "My account is locked after too many attempts on {device}.",
        "I want to merge my two accounts into one.",
        "The app logs me out every time I open it on {device}.",
        "I changed my {login} and now I cannot sign in on {device}.",
        "How do I turn off marketing emails in my account settings?",
    ],
    "other": [
        "I have a question about {topic}.",
        "Who can I talk to about {topic}?",
        "Do you have a page about {topic}?",
        "Just wanted to say the {product} is great, well done.",
        "Can you tell me more about {topic}?",
        "Is there a phone number for questions about {topic}?",
        "I would like to give feedback on {topic}.",
        "Do you sell a {product} in other colours?",
        "Are you hiring? I saw a post about {topic}.",
        "Where can I read about {topic}?",
    ],
}


def _fill(template: str, rng: random.Random) -> str:
    """One text from ``template``: every ``{slot}`` (and ``{slot2}``, a different value) drawn from VOCAB."""
    values: dict[str, str] = {}
    for slot, words in VOCAB.items():
        first, second = rng.sample(words, 2)
        values[slot] = first
        values[f"{slot}2"] = second
    values["courier_cap"] = values["courier"][0].upper() + values["courier"][1:]
    body = template.format(**values)
    opening = rng.choice(VOCAB["mood"])
    if opening.endswith(",") and not body.startswith("I "):
        body = body[0].lower() + body[1:]  # "Hi, the parcel..." but "Hi, I was..."
    closing = rng.choice(VOCAB["close"])
    return " ".join(part for part in (opening, body, closing) if part)


def _unique_texts(label: str, count: int, rng: random.Random, seen: set[str]) -> list[str]:
    """``count`` texts of ``label`` not in ``seen`` (which they are added to), spread over all templates."""
    texts: list[str] = []
    templates = TEMPLATES[label]
    attempts = 0
    while len(texts) < count:
        attempts += 1
        if attempts > count * 200:
            raise RuntimeError(f"cannot generate {count} distinct {label!r} texts from the templates")
        text = _fill(templates[len(texts) % len(templates)], rng)
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def build() -> dict[str, list[dict]]:
    """All four files' records, keyed by file name."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    by_label = {
        label: _unique_texts(label, TASKS_PER_LABEL + GOLDEN_PER_LABEL + TRAINING_PER_LABEL, rng, seen)
        for label in LABELS
    }

    tasks: list[tuple[str, str]] = []
    golden: list[tuple[str, str]] = []
    training: list[tuple[str, str]] = []
    for label, texts in by_label.items():
        tasks += [(text, label) for text in texts[:TASKS_PER_LABEL]]
        golden += [(text, label) for text in texts[TASKS_PER_LABEL : TASKS_PER_LABEL + GOLDEN_PER_LABEL]]
        training += [(text, label) for text in texts[TASKS_PER_LABEL + GOLDEN_PER_LABEL :]]
    # Interleave the classes so that any prefix of the upload looks like the whole.
    for records in (tasks, golden, training):
        rng.shuffle(records)

    def inputs(prefix: str, index: int, text: str) -> dict:
        return {"ticket_id": f"{prefix}{index:0{4 if prefix == 'T' else 3}d}", "text": text}

    files: dict[str, list[dict]] = {"tasks.jsonl": [], "truth.jsonl": [], "golden.jsonl": [], "training.jsonl": []}
    for index, (text, label) in enumerate(tasks, start=1):
        files["tasks.jsonl"].append({"input_values": inputs("T", index, text)})
        files["truth.jsonl"].append({"input_values": inputs("T", index, text), "output_values": {"label": label}})
    for index, (text, label) in enumerate(golden, start=1):
        files["golden.jsonl"].append(
            {
                "input_values": inputs("G", index, text),
                "known_solutions": [{"output_values": {"label": label}, "correctness_weight": 1}],
                "infinite_overlap": True,
            }
        )
    for index, (text, label) in enumerate(training, start=1):
        files["training.jsonl"].append(
            {
                "input_values": inputs("R", index, text),
                "known_solutions": [{"output_values": {"label": label}, "correctness_weight": 1}],
                "message_on_unknown_solution": f"This ticket is about {label}.",
                "infinite_overlap": True,
            }
        )
    return files


def render(records: list[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n" for record in records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    args = parser.parse_args(argv)

    stale = []
    for name, records in build().items():
        path = args.out / name
        content = render(records)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                stale.append(name)
        else:
            path.write_text(content, encoding="utf-8")
            print(f"wrote {path} ({len(records)} records)")
    if stale:
        print(f"out of date: {', '.join(stale)}; run {Path(__file__).name} without --check", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
